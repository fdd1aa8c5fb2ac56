#!/usr/bin/env bash
# Shared by the cluster labs (k8s/labs/run.sh): checks, bounded waits, measurements from outside the services (the
# REST edge through the ingress gateway, Prometheus through the API server's service proxy, kubectl, istioctl).
# shellcheck disable=SC2034 # variables are used by the lab files that run.sh sources
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

LABS_DIR="${K8S_DIR}/labs"
ISTIO_NAMESPACE="${ISTIO_NAMESPACE:-istio-system}"
# The REST edge as kind-up.sh publishes it: the ingress gateway's NodePort on 127.0.0.1:8080, routed by Host.
EDGE_URL="${EDGE_URL:-http://127.0.0.1:8080}"
EDGE_HOST="${EDGE_HOST:-shop.localtest.me}"
EDGE_TIMEOUT_S="${EDGE_TIMEOUT_S:-5}"
# Prometheus of k8s/observability/kube-prometheus-stack-values.yaml, reached without a port-forward.
PROM_PROXY="${PROM_PROXY:-/api/v1/namespaces/monitoring/services/kube-prometheus-stack-prometheus:9090/proxy}"
# Time for a counter increase to be scraped (the stack's scrape interval is 30 s).
SCRAPE_SETTLE_S="${SCRAPE_SETTLE_S:-35}"
# Every wait is bounded by WAIT_TIMEOUT_S, polling every POLL_S.
WAIT_TIMEOUT_S="${WAIT_TIMEOUT_S:-180}"
POLL_S="${POLL_S:-2}"
CHART="${REPO_ROOT}/helm"
# The issuer whose tokens the release accepts (kind-up.sh: SHOP_OIDC_ISSUER, reachable from this machine and from
# the pods under the same URL); empty: the release runs with auth.mode=open and no token is sent.
OIDC_ISSUER_URL="${SHOP_OIDC_ISSUER:-}"
EDGE_TOKEN=''

say() { printf '%s\n' "$*"; }

# check <what> <expected> <measured> <true|false>: one graded row of the phase (run.sh prints the table).
check() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$CHECKS_FILE"
}

# ge/le/gt/eq <a> <b>: numeric comparisons of decimals ("true" or "false"), for check's last column.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? "true" : "false" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "true" : "false" }'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? "true" : "false" }'; }
is() { [[ "$1" == "$2" ]] && echo true || echo false; }

# wait_until <what> <command...>: polls the command until it succeeds, at most WAIT_TIMEOUT_S seconds.
wait_until() {
  local what=$1 deadline=$((SECONDS + WAIT_TIMEOUT_S))
  shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "timed out after ${WAIT_TIMEOUT_S}s waiting for ${what}" >&2
      return 1
    fi
    sleep "$POLL_S"
  done
}

kns() { kubectl -n "$NAMESPACE" "$@"; }

# rollout <kind/name> [namespace]: restart and wait, bounded.
rollout() {
  local ns=${2:-$NAMESPACE}
  kubectl -n "$ns" rollout restart "$1"
  kubectl -n "$ns" rollout status "$1" --timeout "${WAIT_TIMEOUT_S}s"
}

# helm_set <helm --set arguments...>: change the release's values, keeping the others (as k8s/canary.sh does).
helm_set() {
  helm upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" --reuse-values "$@" --wait --timeout "${WAIT_TIMEOUT_S}s"
}

# edge <n> <method> <path> [json body]: n sequential requests at the REST edge. Sets EDGE_N, EDGE_2XX, EDGE_SHARE
# (2xx share), EDGE_P50 (seconds), EDGE_P50_2XX (of the 2xx answers only: a breaker's fast failures do not hide a
# delay), EDGE_CODES ("201:3 503:2") and EDGE_BODIES (one body per line, 2xx only).
edge() {
  local n=$1 method=$2 path=$3 body=${4:-} i out code t tmp
  local -a codes=() times=() times2xx=() args=()
  tmp=$(mktemp)
  EDGE_BODIES=''
  args=(-sS -o "$tmp" -w '%{http_code} %{time_total}' --max-time "$EDGE_TIMEOUT_S" -H "Host: ${EDGE_HOST}" -X "$method")
  [[ -n "$body" ]] && args+=(-H 'content-type: application/json' --data "$body")
  [[ -n "$EDGE_TOKEN" ]] && args+=(-H "Authorization: Bearer ${EDGE_TOKEN}")
  for ((i = 0; i < n; i++)); do
    : >"$tmp"
    out=$(curl "${args[@]}" "${EDGE_URL}${path}" 2>/dev/null) || true
    read -r code t <<<"${out:-000 0}"
    codes+=("${code:-000}")
    times+=("${t:-0}")
    if [[ "$code" == 2* ]]; then
      EDGE_BODIES+="$(tr -d '\n' <"$tmp")"$'\n'
      times2xx+=("${t:-0}")
    fi
  done
  rm -f "$tmp"
  EDGE_N=$n
  EDGE_2XX=$(printf '%s\n' "${codes[@]}" | grep -c '^2' || true)
  EDGE_SHARE=$(awk -v a="$EDGE_2XX" -v n="$n" 'BEGIN { printf "%.2f", (n > 0) ? a / n : 0 }')
  EDGE_P50=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] }')
  EDGE_P50_2XX=$(printf '%s\n' "${times2xx[@]}" | sort -g | awk 'NF { v[++n] = $1 } END { printf "%.2f", (n > 0) ? v[int((n + 1) / 2)] : 0 }')
  EDGE_CODES=$(printf '%s\n' "${codes[@]}" | sort | uniq -c | awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " }')
}

# edge_customer <prefix>: a fresh customer <prefix>-<random> registered at the issuer (POST /accounts) and signed in
# (`npm run token`: authorization code + PKCE through its login form). Sets EDGE_CUSTOMER and EDGE_TOKEN, which edge
# sends from then on, and EDGE_PASSWORD (for edge_sign_in). Without an issuer (auth.mode open) only EDGE_CUSTOMER.
edge_customer() {
  local password
  EDGE_CUSTOMER="$1-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
  if [[ -z "$OIDC_ISSUER_URL" ]]; then
    EDGE_TOKEN=''
    return 0
  fi
  EDGE_PASSWORD=$(od -An -N12 -tx4 /dev/urandom | tr -d ' ')
  curl -fsS -o /dev/null -H 'content-type: application/json' \
    --data "{\"username\":\"${EDGE_CUSTOMER}\",\"password\":\"${EDGE_PASSWORD}\"}" "${OIDC_ISSUER_URL}/accounts"
  edge_sign_in "$EDGE_CUSTOMER" "$EDGE_PASSWORD"
}

# edge_sign_in <customer> <password>: a new token for a customer registered before (a later phase of a lab).
edge_sign_in() {
  EDGE_CUSTOMER=$1
  [[ -n "$OIDC_ISSUER_URL" ]] || return 0
  EDGE_TOKEN=$(cd "$REPO_ROOT" && npm run -s token -- "$1" --password "$2" --issuer "$OIDC_ISSUER_URL")
}

# prom <promql>: the value of an instant query that returns one series ("" when it returns none).
prom() {
  local q
  q=$(jq -rn --arg q "$1" '$q | @uri')
  kubectl get --raw "${PROM_PROXY}/api/v1/query?query=${q}" | jq -r '.data.result[0].value[1] // empty'
}

# prom_delta <promql> <command...>: sets DELTA, the increase of a summed counter across the command (read again
# after a scrape interval). A counter that went down was reset (a restarted pod): its new value is the increase.
prom_delta() {
  local q=$1 before after
  shift
  before=$(prom "$q")
  "$@"
  sleep "$SCRAPE_SETTLE_S"
  after=$(prom "$q")
  DELTA=$(awk -v a="${after:-0}" -v b="${before:-0}" 'BEGIN { d = a - b; printf "%g", (d < 0) ? a : d }')
}

# state_put <key> <value> / state_get <key>: what one phase leaves for the next (run.sh <id> <phase> runs alone).
state_put() { printf '%s' "$2" >"${STATE_DIR}/$1"; }
state_get() { cat "${STATE_DIR}/$1" 2>/dev/null || true; }

# ---- The chart values the labs switch, in one place (rename here when the chart's names change) ----------------
# mTLS mode of the namespace's PeerAuthentication (STRICT | PERMISSIVE).
V_MTLS_MODE="${V_MTLS_MODE:-mtls.mode}"
# A `Sidecar` per workload whose egress lists only its call-graph targets (true) or none: every sidecar holds the
# whole mesh (false, the chart's default).
V_SIDECAR_SCOPE="${V_SIDECAR_SCOPE:-mesh.sidecarScope.enabled}"
# Pod annotations of one service's pods (sidecar resources: sidecar.istio.io/proxyCPU, proxyCPULimit, ...).
v_pod_annotations() { echo "services.$1.podAnnotations"; }
# Envoy's retry budget in every DestinationRule (trafficPolicy.retryBudget: percent, minRetryConcurrency).
V_RETRY_BUDGET="${V_RETRY_BUDGET:-mesh.retryBudget.enabled}"
# The named overlay that brings back the old retry defaults (the storm).
STORM_OVERLAY="${STORM_OVERLAY:-${CHART}/overlays/retry-storm.yaml}"
# StatefulSet PVC retention of PostgreSQL (whenDeleted / whenScaled: Retain | Delete).
V_PG_PVC_RETENTION="${V_PG_PVC_RETENTION:-postgresql.persistentVolumeClaimRetentionPolicy.whenDeleted}"
# Existing values: services.<s>.canary.{enabled,weight,faults}, services.<s>.faults, services.<s>.autoscaling.*,
# services.<s>.route.fault, mesh.outlierDetection.enabled, postgresql.pdb.enabled, faults.adminApi, callGraph.

# helm_values <helm arguments...>: an upgrade from the values saved by save_values (not --reuse-values: an overlay
# applied once is taken away again by leaving it out).
save_values() {
  [[ -s "${STATE_DIR}/values-before.yaml" ]] || helm get values "$RELEASE" -n "$NAMESPACE" -o yaml >"${STATE_DIR}/values-before.yaml"
}
helm_values() {
  helm upgrade "$RELEASE" "$CHART" -n "$NAMESPACE" -f "${STATE_DIR}/values-before.yaml" "$@" --wait --timeout "${WAIT_TIMEOUT_S}s"
}

# ratio <a> <b>: a / b with two decimals (0 when b is 0).
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { printf "%.2f", (b + 0 > 0) ? a / b : 0 }'; }
