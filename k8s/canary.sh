#!/usr/bin/env bash
# Canary releases of one service through Helm values (the chart stays the only source of truth):
#   k8s/canary.sh <service> start <image-tag>   deploy the canary Deployment (track=canary) with 0% of traffic
#   k8s/canary.sh <service> promote             shift weight 5 -> 25 -> 50 -> 100, checking between steps
#   k8s/canary.sh <service> rollback            all traffic back to stable, canary Deployment removed
#   k8s/canary.sh <service> status              current weight and canary pods
# Between steps the script waits STEP_PAUSE seconds (default 60), then checks that the canary pods are ready and
# have not restarted and, when PROMETHEUS_URL is set (e.g. after a port-forward), that the canary's 5xx ratio is at
# most MAX_ERROR_RATIO (default 0.01). A failed check rolls back. Requests with `x-canary: true` always reach the
# canary, so it can be tried before it gets any weight.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: $0 <gateway|orders|inventory|payments> <start <tag>|promote|rollback|status>" >&2
  trap - ERR
  exit 64
}
(($# >= 2)) || usage
service=$1
action=$2
case "$service" in gateway | orders | inventory | payments) ;; *) usage ;; esac
require_tools kubectl helm
STEPS=(5 25 50 100)
STEP_PAUSE="${STEP_PAUSE:-60}"
MAX_ERROR_RATIO="${MAX_ERROR_RATIO:-0.01}"
chart="${REPO_ROOT}/helm"

set_canary() { # set_canary <helm --set arguments...>
  helm upgrade "$RELEASE" "$chart" -n "$NAMESPACE" --reuse-values "$@" --wait --timeout 5m
}

current_weight() {
  local weight
  weight=$(kubectl -n "$NAMESPACE" get virtualservice "$service" \
    -o jsonpath='{.spec.http[?(@.name=="weighted")].route[1].weight}')
  echo "${weight:-0}"
}

check_canary() {
  local deploy="${service}-canary" desired ready restarts
  # Called inside `if`, where set -e does not apply: every step returns explicitly.
  kubectl -n "$NAMESPACE" rollout status "deployment/${deploy}" --timeout 120s || return 1
  desired=$(kubectl -n "$NAMESPACE" get deployment "$deploy" -o jsonpath='{.spec.replicas}') || return 1
  ready=$(kubectl -n "$NAMESPACE" get deployment "$deploy" -o jsonpath='{.status.readyReplicas}') || return 1
  if [[ "${ready:-0}" != "$desired" ]]; then
    echo "canary ${deploy}: ${ready:-0}/${desired} ready" >&2
    return 1
  fi
  restarts=$(kubectl -n "$NAMESPACE" get pods -l "app=${service},track=canary" \
    -o jsonpath='{range .items[*]}{range .status.containerStatuses[*]}{.restartCount}{"\n"}{end}{end}' |
    awk '{ s += $1 } END { print s + 0 }') || return 1
  if ((restarts > 0)); then
    echo "canary ${deploy}: containers restarted ${restarts} times" >&2
    return 1
  fi
  if [[ -n "${PROMETHEUS_URL:-}" ]]; then
    local query ratio
    query="sum(rate(istio_requests_total{reporter=\"destination\",destination_workload=\"${deploy}\",response_code=~\"5..\"}[2m]))"
    query="${query} / sum(rate(istio_requests_total{reporter=\"destination\",destination_workload=\"${deploy}\"}[2m]))"
    ratio=$(curl -fsS --get "${PROMETHEUS_URL}/api/v1/query" --data-urlencode "query=${query}" |
      sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p') || return 1
    echo "canary ${deploy}: 5xx ratio ${ratio:-no traffic}"
    if [[ -n "$ratio" && "$ratio" != NaN ]] && awk -v r="$ratio" -v m="$MAX_ERROR_RATIO" 'BEGIN { exit !(r > m) }'; then
      echo "canary ${deploy}: 5xx ratio ${ratio} above ${MAX_ERROR_RATIO}" >&2
      return 1
    fi
  fi
}

rollback() {
  log "rollback ${service}: 100% to stable, canary removed"
  set_canary --set "services.${service}.canary.weight=0" --set "services.${service}.canary.enabled=false"
}

case "$action" in
  start)
    (($# == 3)) || usage
    log "canary ${service} with image tag $3 at 0%"
    set_canary --set "services.${service}.canary.enabled=true" --set "services.${service}.canary.weight=0" \
      --set-string "services.${service}.canary.tag=$3" --set-string "services.${service}.canary.version=$3"
    check_canary
    echo "canary ready. Try it: add the header 'x-canary: true'. Then: $0 ${service} promote"
    ;;
  promote)
    for weight in "${STEPS[@]}"; do
      log "${service}: canary weight ${weight}%"
      set_canary --set "services.${service}.canary.weight=${weight}"
      if ((weight < 100)); then
        echo "observing for ${STEP_PAUSE}s before the next step"
        sleep "$STEP_PAUSE"
      fi
      if ! check_canary; then
        rollback
        echo "canary of ${service} failed its check at ${weight}% and was rolled back" >&2
        trap - ERR
        exit 1
      fi
    done
    echo "${service}: canary takes 100%. Make it stable: set services.${service}.version and image.tag, then rollback to remove the canary."
    ;;
  rollback)
    rollback
    ;;
  status)
    echo "${service}: canary weight $(current_weight)%"
    kubectl -n "$NAMESPACE" get pods -l "app=${service}" -L track,version
    ;;
  *) usage ;;
esac
