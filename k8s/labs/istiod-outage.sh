#!/usr/bin/env bash
# Lab istiod-outage (incident scenario 3, the control plane half): istiod scaled to 0 while an inventory pod is
# replaced. The sidecars keep the last endpoints istiod pushed: the gone pod's address stays in the gateway's pool,
# and the replacement is refused by the injection webhook or gets no certificate: it never becomes ready. Sourced
# by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='istiod down: the sidecars route by stale endpoints, new pods get no certificate'
LAB_TOOLS=(istioctl)
INVENTORY_CLUSTER="outbound|50051|stable|inventory.${NAMESPACE}.svc.cluster.local"

istiod_ready() { kubectl -n "$ISTIO_NAMESPACE" get deployment istiod -o jsonpath='{.status.readyReplicas}'; }
no_istiod() { [[ "$(istiod_ready)" == "" || "$(istiod_ready)" == 0 ]]; }

# Addresses of the ready inventory pods (the truth) and of the gateway sidecar's inventory pool (what it routes by).
pod_ips() {
  kns get pods -l app=inventory,track=stable \
    -o jsonpath='{range .items[?(@.status.podIP)]}{.status.podIP}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk '$2 == "True" { print $1 }' | sort
}
sidecar_ips() {
  istioctl proxy-config endpoint deploy/gateway-stable -n "$NAMESPACE" --cluster "$INVENTORY_CLUSTER" -o json |
    jq -r '.[].hostStatuses[]?.address.socketAddress.address' | sort
}
# stale: addresses the sidecar routes to that are no ready pod. Sets STALE (count) and STALE_IPS.
stale() {
  STALE_IPS=$(comm -23 <(sidecar_ips) <(pod_ips) | tr '\n' ' ')
  STALE=$(wc -w <<<"$STALE_IPS" | tr -d ' ')
}
# "<ready>/<desired>" of inventory's stable Deployment: without istiod the replacement pod is either refused by the
# injection webhook or never gets a certificate; either way it is not ready.
inventory_ready() {
  kns get deployment inventory-stable -o jsonpath='{.status.readyReplicas}/{.spec.replicas}'
}
all_ready() { local r; r=$(inventory_ready); [[ "${r%/*}" == "${r#*/}" ]]; }

lab_break() {
  local replicas pod
  replicas=$(kubectl -n "$ISTIO_NAMESPACE" get deployment istiod -o jsonpath='{.spec.replicas}')
  if ((replicas > 0)); then state_put replicas "$replicas"; fi
  say "istiod has ${replicas} replicas; scaling it to 0"
  kubectl -n "$ISTIO_NAMESPACE" scale deployment istiod --replicas=0
  wait_until 'istiod to have no ready replica' no_istiod
  pod=$(kns get pods -l app=inventory,track=stable -o jsonpath='{.items[0].metadata.name}')
  state_put pod "$pod"
  say "replacing ${pod} while istiod is down"
  kns delete pod "$pod" --wait=true --timeout "${WAIT_TIMEOUT_S}s"
}

lab_observe() {
  stale
  check 'gateway sidecar: inventory addresses that are no ready pod' '>= 1 (stale endpoints)' "${STALE} (${STALE_IPS% })" "$(ge "$STALE" 1)"
  check 'inventory ready/desired (the replacement cannot start)' 'fewer ready than desired' "$(inventory_ready)" \
    "$(all_ready && echo false || echo true)"
  local ready
  ready=$(istiod_ready)
  check 'ready istiod replicas' '0' "${ready:-0}" "$(is "${ready:-0}" 0)"
}

lab_fix() {
  local replicas
  replicas=$(state_get replicas)
  # Two replicas and a PDB (the chart of istioctl's default profile has one): one pod is one more outage.
  ((${replicas:-0} >= 2)) || replicas=2
  state_put replicas "$replicas"
  kubectl -n "$ISTIO_NAMESPACE" scale deployment istiod --replicas="$replicas"
  kubectl -n "$ISTIO_NAMESPACE" rollout status deployment/istiod --timeout "${WAIT_TIMEOUT_S}s"
  kns rollout status deployment/inventory-stable --timeout "${WAIT_TIMEOUT_S}s"
}

lab_verify() {
  local ready
  stale
  check 'gateway sidecar: inventory addresses that are no ready pod' '0' "${STALE}${STALE_IPS:+ (${STALE_IPS% })}" "$(is "$STALE" 0)"
  check 'inventory ready/desired' 'all ready' "$(inventory_ready)" "$(all_ready && echo true || echo false)"
  ready=$(istiod_ready)
  check 'ready istiod replicas' '>= 2' "${ready:-0}" "$(ge "${ready:-0}" 2)"
  edge 20 GET /v1/products
  check 'GET /v1/products' '>= 95% 2xx' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
}

lab_reset() {
  local replicas
  replicas=$(state_get replicas)
  kubectl -n "$ISTIO_NAMESPACE" scale deployment istiod --replicas="${replicas:-1}"
  kubectl -n "$ISTIO_NAMESPACE" rollout status deployment/istiod --timeout "${WAIT_TIMEOUT_S}s"
}
