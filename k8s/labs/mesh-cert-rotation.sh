#!/usr/bin/env bash
# Lab mesh-cert-rotation (incident scenario 1): the mesh CA is replaced in one step (a new root in `cacerts`,
# istiod restarted); the first workloads to renew their certificates no longer talk to the others. The repair:
# PERMISSIVE as the stop-gap, the old signer with both roots trusted, the new signer, STRICT again. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Mesh CA rotation without a trust bundle: mTLS between old and new certificates fails'
LAB_TOOLS=(openssl base64)
# 503s a caller's sidecar answered because the upstream connection failed (UF, URX after retries): a TLS handshake
# that does not verify ends that way.
MTLS_Q="sum(istio_requests_total{reporter=\"source\",destination_service_namespace=\"${NAMESPACE}\",response_code=\"503\",response_flags=~\".*(UF|URX).*\"}) or vector(0)"

# new_ca <name> <common name>: a self-signed root CA (10 years) in the state directory.
new_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/O=cloud-native-shop/CN=$2" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "${STATE_DIR}/$1-key.pem" -out "${STATE_DIR}/$1.pem" 2>/dev/null
}

# fingerprints <pem file>: SHA-256 fingerprint of every certificate of a bundle, one a line.
fingerprints() {
  local dir
  dir=$(mktemp -d)
  awk -v d="$dir" '/BEGIN CERTIFICATE/ { n++ } n { print > (d "/" n ".pem") }' "$1"
  for f in "$dir"/*.pem; do
    [[ -e "$f" ]] && openssl x509 -noout -fingerprint -sha256 -in "$f" | sed 's/.*=//'
  done
  rm -rf "$dir"
}

# plug_ca <signer> <root bundle>: istiod's plugged-in CA (`cacerts`), then istiod restarted to load it.
plug_ca() {
  kubectl -n "$ISTIO_NAMESPACE" create secret generic cacerts \
    --from-file=ca-cert.pem="${STATE_DIR}/$1.pem" --from-file=ca-key.pem="${STATE_DIR}/$1-key.pem" \
    --from-file=cert-chain.pem="${STATE_DIR}/$1.pem" --from-file=root-cert.pem="${STATE_DIR}/$2" \
    --dry-run=client -o yaml | kubectl apply -f -
  rollout deployment/istiod "$ISTIO_NAMESPACE"
}

# Every workload with a sidecar asks istiod for a new certificate (and the current trust bundle) at start.
renew_workloads() {
  local w
  local -a workloads
  mapfile -t workloads < <(kns get deployments,statefulsets -o name)
  for w in "${workloads[@]}"; do kns rollout restart "$w"; done
  kubectl -n "$ISTIO_NAMESPACE" rollout restart deployment/istio-ingressgateway
  for w in "${workloads[@]}"; do kns rollout status "$w" --timeout "${WAIT_TIMEOUT_S}s"; done
  kubectl -n "$ISTIO_NAMESPACE" rollout status deployment/istio-ingressgateway --timeout "${WAIT_TIMEOUT_S}s"
}

# The roots istiod distributes to the namespace (the ConfigMap every sidecar mounts).
distributed_roots() {
  kns get configmap istio-ca-root-cert -o jsonpath='{.data.root-cert\.pem}' >"${STATE_DIR}/distributed.pem"
  fingerprints "${STATE_DIR}/distributed.pem"
}

probe() { edge 20 GET /v1/products; }

lab_break() {
  local signer=istio-ca-secret
  kns get configmap istio-ca-root-cert -o jsonpath='{.data.root-cert\.pem}' >"${STATE_DIR}/old-root.pem"
  # The signer in use: a plugged-in CA if there is one, else istiod's self-signed CA.
  if kubectl -n "$ISTIO_NAMESPACE" get secret cacerts >/dev/null 2>&1; then
    signer=cacerts
    kubectl -n "$ISTIO_NAMESPACE" get secret cacerts -o yaml >"${STATE_DIR}/cacerts-original.yaml"
    state_put original cacerts
  else
    state_put original none
  fi
  kubectl -n "$ISTIO_NAMESPACE" get secret "$signer" -o jsonpath='{.data.ca-cert\.pem}' | base64 -d >"${STATE_DIR}/old-ca.pem"
  kubectl -n "$ISTIO_NAMESPACE" get secret "$signer" -o jsonpath='{.data.ca-key\.pem}' | base64 -d >"${STATE_DIR}/old-ca-key.pem"
  [[ -s "${STATE_DIR}/new-ca.pem" ]] || new_ca new-ca "shop mesh root $(date -u +%Y%m%d%H%M%S)"
  cp "${STATE_DIR}/new-ca.pem" "${STATE_DIR}/new-root-only.pem"
  say 'the rotation as the incident ran it: a new root alone, istiod restarted, inventory renewed first'
  plug_ca new-ca new-root-only.pem
  rollout deployment/inventory-stable
}

lab_observe() {
  local old roots
  prom_delta "$MTLS_Q" probe
  check 'GET /v1/products 2xx (gateway -> inventory over mTLS)' '<= 20%' "${EDGE_SHARE} (${EDGE_CODES})" "$(le "$EDGE_SHARE" 0.2)"
  check 'istio_requests_total 503 UF/URX in the namespace' '> 0' "$DELTA" "$(gt "$DELTA" 0)"
  old=$(fingerprints "${STATE_DIR}/old-root.pem")
  roots=$(distributed_roots)
  check 'old root in the distributed trust bundle' 'no (old certificates are not trusted)' \
    "$(grep -qxF "$old" <<<"$roots" && echo yes || echo no)" "$(grep -qxF "$old" <<<"$roots" && echo false || echo true)"
}

lab_fix() {
  local mode
  cat "${STATE_DIR}/old-root.pem" "${STATE_DIR}/new-ca.pem" >"${STATE_DIR}/bundle.pem"
  # 0. The stop-gap of the incident: PERMISSIVE, so that a server also accepts callers that come without a
  # certificate while the CA is sorted out. It does not make two sidecars with different roots trust each other
  # (they still originate mTLS); steps 1 and 2 do, and step 3 takes the stop-gap back.
  say "step 0: ${V_MTLS_MODE}=PERMISSIVE while the trust bundle is repaired"
  helm_set --set "${V_MTLS_MODE}=PERMISSIVE"
  mode=$(kns get peerauthentication default -o jsonpath='{.spec.mtls.mode}')
  check 'PeerAuthentication default during the repair' 'PERMISSIVE' "$mode" "$(is "$mode" PERMISSIVE)"
  # 1. Restore the old signer, with both roots trusted: every renewed workload trusts old and new certificates.
  say 'step 1: old signer, trust bundle old + new roots; every workload renewed'
  plug_ca old-ca bundle.pem
  renew_workloads
  # 2. Complete the rotation: the new signer, the bundle kept until every certificate is from the new CA.
  say 'step 2: new signer, same bundle; every workload renewed'
  plug_ca new-ca bundle.pem
  state_put switched "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  renew_workloads
  # 3. The stop-gap ends: every certificate verifies against the bundle, plaintext is refused again.
  say "step 3: ${V_MTLS_MODE}=STRICT"
  helm_set --set "${V_MTLS_MODE}=STRICT"
}

lab_verify() {
  local mode new roots switched before
  prom_delta "$MTLS_Q" probe
  check 'GET /v1/products 2xx' '>= 95%' "${EDGE_SHARE} (${EDGE_CODES})" "$(ge "$EDGE_SHARE" 0.95)"
  check 'istio_requests_total 503 UF/URX in the namespace' '0' "$DELTA" "$(le "$DELTA" 0)"
  mode=$(kns get peerauthentication default -o jsonpath='{.spec.mtls.mode}')
  check 'PeerAuthentication default' 'STRICT (mTLS not traded away)' "$mode" "$(is "$mode" STRICT)"
  new=$(fingerprints "${STATE_DIR}/new-ca.pem")
  roots=$(distributed_roots)
  check 'new root in the distributed trust bundle' 'yes' \
    "$(grep -qxF "$new" <<<"$roots" && echo yes || echo no)" "$(grep -qxF "$new" <<<"$roots" && echo true || echo false)"
  switched=$(state_get switched)
  if [[ -z "$switched" ]]; then
    check 'pods started before the switch to the new signer' '0' 'no switch' false
  else
    before=$(kns get pods -o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\n"}{end}' |
      awk -v s="$switched" 'NF && $1 < s' | wc -l | tr -d ' ')
    check 'pods started before the switch to the new signer' '0' "$before" "$(is "$before" 0)"
  fi
}

lab_reset() {
  helm_set --set "${V_MTLS_MODE}=STRICT"
  if [[ "$(state_get original)" == cacerts ]]; then
    kubectl apply -f "${STATE_DIR}/cacerts-original.yaml"
  else
    kubectl -n "$ISTIO_NAMESPACE" delete secret cacerts --ignore-not-found
  fi
  rollout deployment/istiod "$ISTIO_NAMESPACE"
  renew_workloads
  rm -f "${STATE_DIR}/switched" "${STATE_DIR}/new-ca.pem" "${STATE_DIR}/new-ca-key.pem"
}
