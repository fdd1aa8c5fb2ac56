#!/usr/bin/env bash
# Lab outlier-detection (book 5.4): one inventory pod fails every catalogue read; the DestinationRule's
# outlierDetection (mesh.outlierDetection, on by default) ejects it. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Istio outlier detection: a failing inventory pod is ejected from the callers load-balancing pool'
LAB_TOOLS=(istioctl)
ADMIN_PORT="${ADMIN_PORT:-9180}"
INVENTORY_CLUSTER="outbound|50051|stable|inventory.${NAMESPACE}.svc.cluster.local"

# in_pod <pod> <js>: runs node in the inventory container (the admin API and /metrics are on the pod's loopback).
in_pod() { kns exec "$1" -c inventory -- node -e "$2"; }

admin_fault() { # admin_fault <PUT|DELETE> <pod>
  in_pod "$2" "fetch('http://127.0.0.1:${ADMIN_PORT}/faults/grpc-server-error', { method: '$1',
  headers: { 'content-type': 'application/json' }, body: '$1' === 'PUT' ? JSON.stringify({ method: 'ListProducts', code: 'UNAVAILABLE' }) : undefined })
  .then(async (r) => { console.log(r.status, await r.text()); process.exit(r.ok ? 0 : 1); }, (e) => { console.error(e.message); process.exit(1); });"
}

# The faulty pod's ListProducts calls, from its own /metrics (every outcome counted).
faulty_calls() {
  in_pod "$(state_get pod)" "fetch('http://127.0.0.1:8080/metrics').then((r) => r.text()).then((t) => console.log(t))" |
    awk '/^grpc_server_handled_total\{/ && /grpc_method="ListProducts"/ { s += $NF } END { print s + 0 }'
}

# Whether the gateway's sidecar has ejected the faulty pod (istioctl proxy-config endpoint).
ejected() {
  istioctl proxy-config endpoint deploy/gateway-stable -n "$NAMESPACE" --cluster "$INVENTORY_CLUSTER" -o json |
    jq -r --arg ip "$(state_get ip)" \
      '[.[].hostStatuses[]? | select(.address.socketAddress.address == $ip)
        | .healthStatus.failedOutlierCheck // false | tostring][0] // "absent"'
}

# measure <n>: n catalogue reads at the edge; sets SHARE, the faulty pod's calls per edge request.
measure() {
  local before after
  before=$(faulty_calls)
  edge "$1" GET /v1/products
  after=$(faulty_calls)
  SHARE=$(awk -v a="$after" -v b="$before" -v n="$1" 'BEGIN { printf "%.2f", (a - b) / n }')
}

lab_break() {
  # The legacy configuration: no outlier detection. The admin API is what makes one pod faulty.
  helm_set --set faults.adminApi=true --set mesh.outlierDetection.enabled=false
  local pod
  pod=$(kns get pods -l app=inventory,track=stable --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
  state_put pod "$pod"
  state_put ip "$(kns get pod "$pod" -o jsonpath='{.status.podIP}')"
  say "faulty pod: ${pod} ($(state_get ip)): grpc-server-error on ListProducts"
  admin_fault PUT "$pod"
}

lab_observe() {
  measure 40
  check 'calls of the faulty pod per edge read' '>= 0.3 (it keeps its share)' "$SHARE" "$(ge "$SHARE" 0.3)"
  check 'faulty pod ejected by the gateway sidecar' 'false' "$(ejected)" "$(is "$(ejected)" false)"
}

lab_fix() {
  helm_set --set mesh.outlierDetection.enabled=true
}

lab_verify() {
  # Five consecutive errors eject the pod; the warm-up gives the detector its errors and its 10 s interval.
  edge 20 GET /v1/products
  sleep "${OUTLIER_SETTLE_S:-12}"
  measure 40
  check 'calls of the faulty pod per edge read' '<= 0.15' "$SHARE" "$(le "$SHARE" 0.15)"
  check 'faulty pod ejected by the gateway sidecar' 'true' "$(ejected)" "$(is "$(ejected)" true)"
  check 'GET /v1/products 2xx' '>= 95%' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
}

lab_reset() {
  local pod
  pod=$(state_get pod)
  # The pod may be gone (the upgrade below restarts pods anyway): its fault goes with it.
  if [[ -n "$pod" ]]; then admin_fault DELETE "$pod" || true; fi
  helm_set --set faults.adminApi=false --set mesh.outlierDetection.enabled=true
}
