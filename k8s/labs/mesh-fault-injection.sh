#!/usr/bin/env bash
# Lab mesh-fault-injection (book 5.3): the book's VirtualService fault (delay and abort) on inventory, from the
# chart's value services.inventory.route.fault. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Istio fault injection: a VirtualService delays every inventory call by 1 s and aborts half of them'
LAB_TOOLS=()
# Override to try another fault, e.g. scoped to a header on the gateway's edge route:
#   FAULT_SERVICE=gateway FAULT_JSON='{"abort":{"httpStatus":503,"percent":100},"header":{"name":"x-lab-fault","value":"on"}}'
FAULT_SERVICE="${FAULT_SERVICE:-inventory}"
DEFAULT_FAULT='{"delay":{"fixedDelay":"1s","percent":100},"abort":{"grpcStatus":"UNAVAILABLE","percent":50}}'
FAULT_JSON="${FAULT_JSON:-$DEFAULT_FAULT}"
# Requests Envoy answered with an injected fault (response flag FI: abort, DI: delay), seen by the callers.
INJECTED_Q="sum(istio_requests_total{reporter=\"source\",destination_service_name=\"${FAULT_SERVICE}\",response_flags=~\".*(FI|DI).*\"}) or vector(0)"

lab_break() {
  say "services.${FAULT_SERVICE}.route.fault=${FAULT_JSON}"
  helm_set --set-json "services.${FAULT_SERVICE}.route.fault=${FAULT_JSON}"
  kns get virtualservice "$FAULT_SERVICE" -o jsonpath='{.spec.http[*].fault}'
  echo
}

probe() { edge 20 GET /v1/products; }

lab_observe() {
  prom_delta "$INJECTED_Q" probe
  # Of the 2xx answers: every one waited for the delay, while failures may end early (a deadline, the breaker).
  check 'GET /v1/products p50 of the 2xx answers' '>= 0.9 s (the injected delay)' "${EDGE_P50_2XX} s" "$(ge "$EDGE_P50_2XX" 0.9)"
  check 'GET /v1/products 2xx' '<= 90% (aborts reach the edge)' "${EDGE_SHARE} (${EDGE_CODES})" "$(le "$EDGE_SHARE" 0.9)"
  check 'istio_requests_total with response_flags FI/DI' '> 0' "$DELTA" "$(gt "$DELTA" 0)"
}

lab_fix() {
  # The exercise ends by taking the fault away; what it tested is that the deadlines bounded the damage.
  helm_set --set-json "services.${FAULT_SERVICE}.route.fault={}"
}

lab_verify() {
  prom_delta "$INJECTED_Q" probe
  check 'GET /v1/products p50' '< 0.5 s' "${EDGE_P50} s" "$(le "$EDGE_P50" 0.5)"
  check 'GET /v1/products 2xx' '>= 95%' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
  check 'istio_requests_total with response_flags FI/DI' '0' "$DELTA" "$(le "$DELTA" 0)"
}

lab_reset() {
  helm_set --set-json "services.${FAULT_SERVICE}.route.fault={}"
}
