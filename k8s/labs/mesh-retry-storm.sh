#!/usr/bin/env bash
# Lab mesh-retry-storm (incident scenario 7, the mesh half): inventory fails a share of its calls; under the storm
# overlay (the old retry defaults, STORM_OVERLAY) every layer retries and one edge read becomes several inventory
# calls. The fix is the chart's defaults (no amplification) and the retry budget. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Retry storm: the storm overlay multiplies inventory calls; the defaults and a retry budget do not'
LAB_TOOLS=()
DEFAULT_STORM_FAULT='{"grpc-server-error":{"method":"ListProducts","code":"UNAVAILABLE","percent":50}}'
STORM_FAULT="${STORM_FAULT:-$DEFAULT_STORM_FAULT}"
PROBES="${PROBES:-40}"
# Calls inventory's sidecars received (every attempt of every layer counts once).
CALLS_Q="sum(istio_requests_total{reporter=\"destination\",destination_service_name=\"inventory\"}) or vector(0)"

probe() { edge "$PROBES" GET /v1/products; }
# amplification: inventory calls per edge read. Sets AMP.
amplification() {
  prom_delta "$CALLS_Q" probe
  AMP=$(ratio "$DELTA" "$EDGE_N")
}

lab_break() {
  [[ -f "$STORM_OVERLAY" ]] || {
    echo "the storm overlay ${STORM_OVERLAY} does not exist (STORM_OVERLAY)" >&2
    return 1
  }
  save_values
  say "storm overlay ${STORM_OVERLAY#"${REPO_ROOT}"/}, inventory faults ${STORM_FAULT}"
  helm_values -f "$STORM_OVERLAY" --set-json "services.inventory.faults=${STORM_FAULT}"
}

lab_observe() {
  amplification
  check 'inventory calls per edge read' '>= 2 (the storm)' "$AMP (${DELTA} for ${EDGE_N})" "$(ge "$AMP" 2)"
}

lab_fix() {
  say "chart defaults, retry budget ${V_RETRY_BUDGET}=true; the fault stays (the dependency is still sick)"
  helm_values --set "${V_RETRY_BUDGET}=true" --set-json "services.inventory.faults=${STORM_FAULT}"
}

lab_verify() {
  local budget
  amplification
  check 'inventory calls per edge read' '<= 1.5' "$AMP (${DELTA} for ${EDGE_N})" "$(le "$AMP" 1.5)"
  budget=$(kns get destinationrule inventory -o jsonpath='{.spec.trafficPolicy.retryBudget.percent}')
  check 'DestinationRule inventory retryBudget.percent' 'set' "${budget:-none}" "$([[ -n "$budget" ]] && echo true || echo false)"
}

lab_reset() {
  if [[ -s "${STATE_DIR}/values-before.yaml" ]]; then helm_values; fi
  rm -f "${STATE_DIR}/values-before.yaml"
}
