#!/usr/bin/env bash
# After k8s/kind-up.sh: is the platform wired as the chart says?
#   k8s/verify.sh [--help]
# 1. A connectivity matrix from inside each service's pod (through its sidecar) to every in-cluster target: every
#    edge of the release's call graph (helm get values: callGraph) is reached, every other pair is denied by the
#    mesh (HTTP 403 / gRPC PERMISSION_DENIED "RBAC: access denied", or a TCP connection closed at once); the edge
#    ingress -> gateway is tried at the REST edge.
#    It assumes the mesh (mesh.enabled=true, as kind-up.sh installs it): without it a forbidden call times out.
# 2. Plaintext is refused under STRICT mTLS: a pod without a sidecar (labels that pass the NetworkPolicies, so that
#    only mTLS can refuse it) calls inventory's gRPC port.
# 3. Every Prometheus target is up, and each service and istiod has one (Prometheus through the API server proxy).
# 4. A fresh order's trace (its traceId from POST /v1/orders) is in Jaeger with spans of gateway and orders.
# Prints the matrix and a check / expected / measured table. Exit 0: all held; 1: a miss; 2: usage, a missing tool or
# a kubectl context other than kind-${CLUSTER_NAME} (VERIFY_ANY_CONTEXT=1 to run against another one).
# Environment: CLUSTER_NAME, NAMESPACE, RELEASE (k8s/lib.sh), EDGE_URL, EDGE_HOST, PROM_PROXY, WAIT_TIMEOUT_S,
# SHOP_OIDC_ISSUER (k8s/labs/lib.sh), JAEGER_PROXY (Jaeger's query API through the API server), PROBE_TIMEOUT_MS.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The labs' measurements (edge, prom, check, wait_until): the same readings as the cluster labs.
# shellcheck source=SCRIPTDIR/labs/lib.sh
source "${K8S_DIR}/labs/lib.sh"

usage() {
  [[ -n "${1:-}" ]] && echo "$1" >&2
  echo "usage: $0 [--help]   (after k8s/kind-up.sh; see the head of this script for the environment)" >&2
  trap - ERR
  exit 2
}
for arg in "$@"; do
  case "$arg" in
    --help | -h) usage ;;
    *) usage "unknown argument ${arg}" ;;
  esac
done
require_tools kubectl helm jq curl
context=$(kubectl config current-context 2>/dev/null || true)
if [[ "$context" != "kind-${CLUSTER_NAME}" && "${VERIFY_ANY_CONTEXT:-0}" != 1 ]]; then
  echo "the current kubectl context is '${context}', not kind-${CLUSTER_NAME} (k8s/kind-up.sh)" >&2
  echo "  (set VERIFY_ANY_CONTEXT=1 to verify '${context}')" >&2
  exit 2
fi
JAEGER_PROXY="${JAEGER_PROXY:-/api/v1/namespaces/observability/services/jaeger-query:16686/proxy}"
PROBE_TIMEOUT_MS="${PROBE_TIMEOUT_MS:-3000}"
STATE_DIR=$(mktemp -d)
CHECKS_FILE="${STATE_DIR}/checks.tsv"
: >"$CHECKS_FILE"
trap 'rm -rf "$STATE_DIR"' EXIT

# The probe, run by node in a service's container: one line "<target> <result> <detail>" per argument
# "<kind>:<host>:<port>"; kind grpc (grpc.health.v1 Check over h2c), http (GET /), postgres (SSLRequest), kafka
# (ApiVersions v0). result: reached | denied | refused (no answer: reset or closed) | error.
PROBE=$(
  cat <<'JS'
const http2 = require('node:http2'), http = require('node:http'), net = require('node:net');
const ms = Number(process.env.PROBE_TIMEOUT_MS || 3000);
const grpc = (host, port) => new Promise((done) => {
  const s = http2.connect(`http://${host}:${port}`);
  const t = setTimeout(() => { s.destroy(); done('error timeout'); }, ms);
  const end = (r) => { clearTimeout(t); s.destroy(); done(r); };
  s.on('error', (e) => end(`refused ${e.code || e.message}`));
  const h = {};
  const req = s.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers' });
  req.on('response', (x) => Object.assign(h, x));
  req.on('trailers', (x) => Object.assign(h, x));
  req.on('error', (e) => end(`refused ${e.code || e.message}`));
  req.on('data', () => {});
  req.on('end', () => {
    const st = h[':status'], g = h['grpc-status'], m = String(h['grpc-message'] || '');
    if (st === undefined) return end('refused no-response');
    if (st === 403 || (g === '7' && /RBAC/.test(decodeURIComponent(m)))) return end(`denied http=${st} grpc=${g}`);
    end(`reached http=${st} grpc=${g}`);
  });
  req.end(Buffer.alloc(5));
});
const web = (host, port) => new Promise((done) => {
  const req = http.get({ host, port, path: '/', timeout: ms }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => done(res.statusCode === 403 && /RBAC/.test(body) ? `denied http=403` : `reached http=${res.statusCode}`));
  });
  req.on('timeout', () => { req.destroy(); done('error timeout'); });
  req.on('error', (e) => done(`refused ${e.code || e.message}`));
});
const tcp = (host, port, payload) => new Promise((done) => {
  let n = 0;
  const s = net.connect({ host, port }, () => s.write(payload));
  const t = setTimeout(() => { s.destroy(); done(n > 0 ? `reached bytes=${n}` : 'error timeout'); }, ms);
  s.on('data', (c) => { n += c.length; clearTimeout(t); s.destroy(); done(`reached bytes=${n}`); });
  s.on('close', () => { clearTimeout(t); done(n > 0 ? `reached bytes=${n}` : 'denied closed'); });
  s.on('error', (e) => { clearTimeout(t); done(e.code === 'ECONNRESET' ? 'denied reset' : `error ${e.code}`); });
});
const PG = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
const KAFKA = Buffer.from([0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 255, 255]);
(async () => {
  for (const a of process.argv.slice(1)) {
    const [kind, host, port] = a.split(':');
    const r = kind === 'grpc' ? await grpc(host, port) : kind === 'http' ? await web(host, port)
      : await tcp(host, port, kind === 'postgres' ? PG : KAFKA);
    console.log(`${host} ${r}`);
  }
})();
JS
)

# The release's call graph and the in-cluster targets (those with a Service).
helm get values "$RELEASE" -n "$NAMESPACE" -a -o json | jq -c '.callGraph' >"${STATE_DIR}/graph.json"
declare -A PORT_OF=([grpc]=50051 [http]=8080 [postgres]=5432 [kafka]=9092)
mapfile -t TARGETS < <(jq -r '[.[] | select(.from != "helm-test") | "\(.to) \(.port)"] | unique[]' "${STATE_DIR}/graph.json")
mapfile -t SOURCES < <(jq -r '[.[].from | select(. != "ingress" and . != "helm-test")] + [.[].to | select(. != "postgresql" and . != "kafka")] | unique[]' "${STATE_DIR}/graph.json")
allowed() { jq -e --arg f "$1" --arg t "$2" 'any(.[]; .from == $f and .to == $t)' "${STATE_DIR}/graph.json" >/dev/null; }

say "connectivity matrix (${NAMESPACE}, release ${RELEASE}): rows call, columns answer; ok = as the call graph says"
header=$(printf '%-12s' 'from \ to')
for t in "${TARGETS[@]}"; do header+=$(printf ' %-18s' "${t% *}"); done
say "$header"
misses=0
for s in "${SOURCES[@]}"; do
  args=()
  for t in "${TARGETS[@]}"; do
    name=${t% *} kind=${t#* }
    args+=("${kind}:${name}.${NAMESPACE}.svc.cluster.local:${PORT_OF[$kind]}")
  done
  out=$(kns exec "deploy/${s}-stable" -c "$s" -- env "PROBE_TIMEOUT_MS=${PROBE_TIMEOUT_MS}" node -e "$PROBE" "${args[@]}" 2>&1) || true
  row=$(printf '%-12s' "$s")
  for t in "${TARGETS[@]}"; do
    name=${t% *}
    result=$(awk -v h="${name}.${NAMESPACE}.svc.cluster.local" '$1 == h { print $2; exit }' <<<"$out")
    if allowed "$s" "$name"; then want=reached; else want=denied; fi
    if [[ "$s" == "$name" ]]; then
      cell='-'
    elif [[ "$result" == "$want" ]]; then
      cell="ok ${result}"
    else
      cell="MISS ${result:-no-answer}"
      misses=$((misses + 1))
      detail=$(awk -v h="${name}.${NAMESPACE}.svc.cluster.local" '$1 == h { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$out")
      check "${s} -> ${name}" "$want" "${detail:-no answer: ${out:0:80}}" false
    fi
    row+=$(printf ' %-18s' "$cell")
  done
  say "$row"
done
edge 3 GET /v1/products
check 'ingress -> gateway (GET /v1/products at the REST edge)' '2xx' "$EDGE_CODES" "$(is "$EDGE_2XX" 3)"
check 'connectivity matrix' '0 misses' "$misses" "$(is "$misses" 0)"

# Plaintext from a pod without a sidecar, with labels the NetworkPolicies admit towards inventory (app=gateway)
# but no Service selects (no app.kubernetes.io/instance).
image=$(kns get deployment gateway-stable -o jsonpath='{.spec.template.spec.containers[?(@.name=="gateway")].image}')
mode=$(kns get peerauthentication default -o jsonpath='{.spec.mtls.mode}')
overrides=$(jq -cn --arg image "$image" '{apiVersion: "v1", metadata: {labels: {app: "gateway", "app.kubernetes.io/component": "service"},
  annotations: {"sidecar.istio.io/inject": "false"}}, spec: {automountServiceAccountToken: false,
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: "RuntimeDefault"}},
  containers: [{name: "probe", image: $image, securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}}]}}')
kns delete pod verify-plaintext --ignore-not-found --wait=true >/dev/null
plain=$(kns run verify-plaintext --rm -i --restart=Never --quiet --image "$image" --overrides "$overrides" \
  --pod-running-timeout "${WAIT_TIMEOUT_S}s" --command -- node -e "$PROBE" "grpc:inventory.${NAMESPACE}.svc.cluster.local:50051" \
  </dev/null 2>&1) || true
plain=$(awk -v h="inventory.${NAMESPACE}.svc.cluster.local" '$1 == h { print $2; exit }' <<<"$plain")
check "PeerAuthentication default" 'STRICT' "${mode:-none}" "$(is "$mode" STRICT)"
check 'plaintext to inventory from a pod without a sidecar' 'refused' "${plain:-no answer}" "$(is "$plain" refused)"

# Prometheus targets.
kubectl get --raw "${PROM_PROXY}/api/v1/targets?state=active" >"${STATE_DIR}/targets.json"
total=$(jq '.data.activeTargets | length' "${STATE_DIR}/targets.json")
down=$(jq -r '[.data.activeTargets[] | select(.health != "up") | .scrapeUrl] | join(" ")' "${STATE_DIR}/targets.json")
up=$(jq '[.data.activeTargets[] | select(.health == "up")] | length' "${STATE_DIR}/targets.json")
check 'Prometheus targets up' "all (${total})" "${up}${down:+, down: ${down:0:120}}" "$([[ "$total" -gt 0 && "$up" == "$total" ]] && echo true || echo false)"
for job in "${SERVICES[@]}" istiod; do
  n=$(jq --arg j "$job" '[.data.activeTargets[] | select(.health == "up") | select([.labels.job, .labels.service, .labels.app, .labels.pod, .labels.container] | map(. // "") | any(startswith($j)))] | length' "${STATE_DIR}/targets.json")
  check "scraped: ${job}" '>= 1 target up' "$n" "$(ge "$n" 1)"
done

# A trace of a fresh order.
edge_customer verify
edge 1 POST /v1/orders "{\"customerId\":\"${EDGE_CUSTOMER}\",\"items\":[{\"sku\":\"SKU-0001\",\"quantity\":1}]}"
trace=$(printf '%s' "$EDGE_BODIES" | jq -r '.traceId // empty' | head -n 1)
check 'POST /v1/orders' '201 with a traceId' "${EDGE_CODES} ${trace:-no traceId}" "$([[ "$EDGE_2XX" == 1 && -n "$trace" ]] && echo true || echo false)"
trace_svcs=''
trace_services() {
  trace_svcs=$(kubectl get --raw "${JAEGER_PROXY}/api/traces/${trace}" 2>/dev/null |
    jq -r '[.data[0].processes[]?.serviceName] | unique | join(",")')
  [[ ",${trace_svcs}," == *",gateway,"* && ",${trace_svcs}," == *",orders,"* ]]
}
if [[ -n "$trace" ]]; then wait_until "trace ${trace} in Jaeger" trace_services || true; fi
check "trace ${trace:-?} in Jaeger" 'spans of gateway and orders' "${trace_svcs:-none}" \
  "$([[ ",${trace_svcs}," == *",gateway,"* && ",${trace_svcs}," == *",orders,"* ]] && echo true || echo false)"

say ''
{
  printf 'ok\tcheck\texpected\tmeasured\n'
  awk -F '\t' '{ printf "%s\t%s\t%s\t%s\n", ($4 == "true") ? "ok" : "MISS", $1, $2, $3 }' "$CHECKS_FILE"
} | awk -F '\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
  END { for (r = 1; r <= NR; r++) { line = ""; for (i = 1; i <= 4; i++) line = line sprintf("%-" w[i] "s ", c[r, i]); sub(/ +$/, "", line); print line } }'
failed=$(awk -F '\t' '$4 != "true"' "$CHECKS_FILE" | wc -l | tr -d ' ')
if ((failed > 0)); then
  say "verify: ${failed} check(s) MISSED"
  exit 1
fi
say 'verify: every check held'
