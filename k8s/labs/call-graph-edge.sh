#!/usr/bin/env bash
# Lab call-graph-edge (incident scenario 3, the policy half): one edge of the call graph (values callGraph) is
# removed, as a refactoring of the values did; the AuthorizationPolicy of its target no longer names the caller's
# principal and every call on that edge is denied (403, RBAC: access denied). Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='A call-graph edge removed: the mesh denies gateway -> inventory (RBAC: access denied)'
LAB_TOOLS=()
EDGE_FROM="${EDGE_FROM:-gateway}"
EDGE_TO="${EDGE_TO:-inventory}"
# Calls the target's sidecar refused by policy, as the callers see them.
DENIED_Q="sum(istio_requests_total{reporter=\"destination\",destination_service_name=\"${EDGE_TO}\",source_workload=~\"${EDGE_FROM}-.*\",response_code=\"403\"}) or vector(0)"
PRINCIPAL="cluster.local/ns/${NAMESPACE}/sa/${EDGE_FROM}"

probe() { edge 20 GET /v1/products; }
# Principals the target's ALLOW policy admits.
admitted() {
  kns get authorizationpolicy "allow-to-${EDGE_TO}" -o json | jq -r '[.spec.rules[]?.from[]?.source.principals[]?] | join(" ")'
}

lab_break() {
  helm get values "$RELEASE" -n "$NAMESPACE" -a -o json | jq -c '.callGraph' >"${STATE_DIR}/call-graph.json"
  jq -e 'length > 0' "${STATE_DIR}/call-graph.json" >/dev/null
  jq -c --arg f "$EDGE_FROM" --arg t "$EDGE_TO" 'map(select(.from != $f or .to != $t))' "${STATE_DIR}/call-graph.json" \
    >"${STATE_DIR}/call-graph-broken.json"
  say "callGraph without ${EDGE_FROM} -> ${EDGE_TO}: $(jq length "${STATE_DIR}/call-graph-broken.json") of $(jq length "${STATE_DIR}/call-graph.json") edges"
  helm_set --set-json "callGraph=$(cat "${STATE_DIR}/call-graph-broken.json")"
}

lab_observe() {
  local p
  prom_delta "$DENIED_Q" probe
  check 'GET /v1/products 2xx' '<= 10%' "${EDGE_SHARE} (${EDGE_CODES})" "$(le "$EDGE_SHARE" 0.1)"
  check "istio_requests_total 403 at ${EDGE_TO} from ${EDGE_FROM}" '> 0' "$DELTA" "$(gt "$DELTA" 0)"
  p=$(admitted)
  check "allow-to-${EDGE_TO} admits ${EDGE_FROM}" 'no' "$(grep -qwF "$PRINCIPAL" <<<"$p" && echo yes || echo no)" \
    "$(grep -qwF "$PRINCIPAL" <<<"$p" && echo false || echo true)"
}

lab_fix() {
  helm_set --set-json "callGraph=$(cat "${STATE_DIR}/call-graph.json")"
}

lab_verify() {
  local p
  prom_delta "$DENIED_Q" probe
  check 'GET /v1/products 2xx' '>= 95%' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
  check "istio_requests_total 403 at ${EDGE_TO} from ${EDGE_FROM}" '0' "$DELTA" "$(le "$DELTA" 0)"
  p=$(admitted)
  check "allow-to-${EDGE_TO} admits ${EDGE_FROM}" 'yes' "$(grep -qwF "$PRINCIPAL" <<<"$p" && echo yes || echo no)" \
    "$(grep -qwF "$PRINCIPAL" <<<"$p" && echo true || echo false)"
}

lab_reset() {
  if [[ -s "${STATE_DIR}/call-graph.json" ]]; then helm_set --set-json "callGraph=$(cat "${STATE_DIR}/call-graph.json")"; fi
}
