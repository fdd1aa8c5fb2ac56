#!/usr/bin/env bash
# Lab coredns-outage (incident scenario 3, the cluster half): CoreDNS scaled to 0. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='CoreDNS outage: names stop resolving, established connections keep working'
LAB_TOOLS=()
DNS_NAME="${DNS_NAME:-inventory.${NAMESPACE}.svc.cluster.local.}"
DNS_PROBES="${DNS_PROBES:-5}"

# dns_probe: DNS_PROBES lookups from inside an orders pod, with c-ares (1 s per try, 2 tries: no thread pool, no
# cache); the pod's resolv.conf points at the kube-dns Service. Sets DNS_OK.
dns_probe() {
  local script out
  script="const r = new (require('node:dns').promises.Resolver)({ timeout: 1000, tries: 2 });
let ok = 0;
(async () => { for (let i = 0; i < Number(process.argv[2]); i++) { try { await r.resolve4(process.argv[1]); ok++; } catch {} }
console.log(ok); })();"
  out=$(kns exec deploy/orders-stable -c orders -- node -e "$script" "$DNS_NAME" "$DNS_PROBES")
  DNS_OK=$(printf '%s' "$out" | tr -dc '0-9')
}

dns_endpoints() {
  kubectl -n kube-system get endpointslices -l kubernetes.io/service-name=kube-dns \
    -o jsonpath='{range .items[*]}{range .endpoints[*]}{.addresses[0]}{"\n"}{end}{end}' | grep -c . || true
}
no_dns_endpoints() { [[ "$(dns_endpoints)" == 0 ]]; }
has_dns_endpoints() { (($(dns_endpoints) > 0)); }

lab_break() {
  local replicas
  replicas=$(kubectl -n kube-system get deployment coredns -o jsonpath='{.spec.replicas}')
  # A second break must not record 0 as the baseline.
  if ((replicas > 0)); then state_put replicas "$replicas"; fi
  say "CoreDNS has ${replicas} replicas; scaling it to 0"
  kubectl -n kube-system scale deployment coredns --replicas=0
  wait_until 'the kube-dns Service to lose its endpoints' no_dns_endpoints
}

lab_observe() {
  dns_probe
  check "lookups of ${DNS_NAME} from an orders pod" "0/${DNS_PROBES} resolve" "${DNS_OK}/${DNS_PROBES}" "$(is "$DNS_OK" 0)"
  check 'kube-dns endpoints' '0' "$(dns_endpoints)" "$(is "$(dns_endpoints)" 0)"
  # The resilience: channels resolved before the outage keep their connections (gRPC re-resolves only when a
  # connection fails; the sidecars route by istiod's endpoints, not by DNS).
  edge 20 GET /v1/products
  check 'GET /v1/products over established connections' '>= 90% 2xx' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.9)"
}

lab_fix() {
  local replicas
  replicas=$(state_get replicas)
  # At least two replicas, as the seed's guide says ("Increase CoreDNS replicas"): one pod is one more outage.
  ((${replicas:-0} >= 2)) || replicas=2
  state_put replicas "$replicas"
  kubectl -n kube-system scale deployment coredns --replicas="$replicas"
  kubectl -n kube-system rollout status deployment/coredns --timeout "${WAIT_TIMEOUT_S}s"
  wait_until 'the kube-dns Service to have endpoints again' has_dns_endpoints
}

lab_verify() {
  local ready
  dns_probe
  check "lookups of ${DNS_NAME} from an orders pod" ">= $((DNS_PROBES - 1))/${DNS_PROBES} resolve" "${DNS_OK}/${DNS_PROBES}" \
    "$(ge "$DNS_OK" $((DNS_PROBES - 1)))"
  ready=$(kubectl -n kube-system get deployment coredns -o jsonpath='{.status.readyReplicas}')
  check 'ready CoreDNS replicas' '>= 2' "${ready:-0}" "$(ge "${ready:-0}" 2)"
  edge 20 GET /v1/products
  check 'GET /v1/products' '>= 95% 2xx' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
}

lab_reset() {
  local replicas
  replicas=$(state_get replicas)
  kubectl -n kube-system scale deployment coredns --replicas="${replicas:-2}"
  kubectl -n kube-system rollout status deployment/coredns --timeout "${WAIT_TIMEOUT_S}s"
}
