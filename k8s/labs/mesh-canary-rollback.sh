#!/usr/bin/env bash
# Lab mesh-canary-rollback (book 9.4): an inventory canary that fails every catalogue read (services.inventory.canary.faults)
# takes a quarter of the traffic; its gRPC error ratio in istio_requests_total is the signal, k8s/canary.sh
# rollback the remedy. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Canary rollback: a faulty inventory canary at 25% fails its gRPC calls until it is rolled back'
LAB_TOOLS=()
CANARY_SERVICE="${CANARY_SERVICE:-inventory}"
CANARY_WEIGHT="${CANARY_WEIGHT:-25}"
DEFAULT_CANARY_FAULT='{"grpc-server-error":{"method":"ListProducts","code":"UNAVAILABLE"}}'
CANARY_FAULT="${CANARY_FAULT:-$DEFAULT_CANARY_FAULT}"
# Calls the canary answered, and those with a gRPC status other than OK (not only HTTP 5xx: gRPC errors are 200s).
CANARY_ALL_Q="sum(istio_requests_total{reporter=\"destination\",destination_workload=\"${CANARY_SERVICE}-canary\"}) or vector(0)"
CANARY_ERR_Q="sum(istio_requests_total{reporter=\"destination\",destination_workload=\"${CANARY_SERVICE}-canary\",grpc_response_status!=\"0\"}) or vector(0)"

probe() { edge 40 GET /v1/products; }
canary_pods() { kns get pods -l "app=${CANARY_SERVICE},track=canary" -o name | grep -c . || true; }
canary_weight() {
  kns get virtualservice "$CANARY_SERVICE" -o jsonpath='{.spec.http[?(@.name=="weighted")].route[1].weight}'
}
# canary_errors: sets ERR_RATIO (errors / calls of the canary across the probe) and CALLS.
canary_errors() {
  local all_before
  all_before=$(prom "$CANARY_ALL_Q")
  prom_delta "$CANARY_ERR_Q" probe
  CALLS=$(awk -v a="$(prom "$CANARY_ALL_Q")" -v b="${all_before:-0}" 'BEGIN { d = a - b; printf "%g", (d < 0) ? a : d }')
  ERR_RATIO=$(ratio "$DELTA" "$CALLS")
}

lab_break() {
  say "canary of ${CANARY_SERVICE} (same image, faults ${CANARY_FAULT}) at ${CANARY_WEIGHT}%"
  helm_set --set "services.${CANARY_SERVICE}.canary.enabled=true" --set "services.${CANARY_SERVICE}.canary.weight=${CANARY_WEIGHT}" \
    --set-json "services.${CANARY_SERVICE}.canary.faults=${CANARY_FAULT}"
  kns rollout status "deployment/${CANARY_SERVICE}-canary" --timeout "${WAIT_TIMEOUT_S}s"
}

lab_observe() {
  canary_errors
  check 'canary calls with a gRPC status other than OK' '>= 90%' "${ERR_RATIO} (${DELTA} of ${CALLS})" "$(ge "$ERR_RATIO" 0.9)"
  check 'GET /v1/products 2xx' '<= 90%' "${EDGE_SHARE} (${EDGE_CODES})" "$(le "$EDGE_SHARE" 0.9)"
  check 'canary weight' "${CANARY_WEIGHT}" "$(canary_weight)" "$(is "$(canary_weight)" "$CANARY_WEIGHT")"
}

lab_fix() {
  "${K8S_DIR}/canary.sh" "$CANARY_SERVICE" rollback
}

lab_verify() {
  local w
  edge 40 GET /v1/products
  check 'GET /v1/products 2xx' '>= 95%' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
  w=$(canary_weight)
  check 'canary weight' '0 or no canary route' "${w:-none}" "$(is "${w:-0}" 0)"
  check 'canary pods' '0' "$(canary_pods)" "$(is "$(canary_pods)" 0)"
}

lab_reset() {
  helm_set --set "services.${CANARY_SERVICE}.canary.enabled=false" --set "services.${CANARY_SERVICE}.canary.weight=0" \
    --set-json "services.${CANARY_SERVICE}.canary.faults={}"
}
