#!/usr/bin/env bash
# Canary releases of one service through Helm values (the chart stays the only source of truth):
#   k8s/canary.sh <service> start <image-tag>   build and load the image, deploy the canary (track=canary) at 0%
#   k8s/canary.sh <service> promote             shift weight 5 -> 25 -> 50 -> 100, checking between steps
#   k8s/canary.sh <service> rollback            all traffic back to stable, canary Deployment removed
#   k8s/canary.sh <service> status              current weight and canary pods
# start deploys only an image the kind nodes have: <IMAGE_REGISTRY>/<service>:<tag> is built with
# `npm run images -- --service <service> --tag <tag>` unless the container engine (CONTAINER_ENGINE, else docker
# when its daemon answers, else podman) already has it (BUILD=always rebuilds, BUILD=never refuses a missing image),
# then loaded into the cluster CLUSTER_NAME with `kind load`.
# A canary consumes no saga topic and runs no migration (the chart sets KAFKA_CONSUMERS=off and
# DATABASE_MIGRATIONS=check on its pods): at 0% it serves only requests with `x-canary: true`, which every service
# passes on to the services it calls.
# promote needs PROMETHEUS_URL (e.g. after a port-forward). After each step it waits STEP_PAUSE seconds (default 60)
# and checks that the canary pods are ready and have not restarted, that the canary version received at least
# MIN_REQUESTS requests (default 50) in that window (istio_requests_total, reporter=destination), and that at most
# MAX_ERROR_RATIO (default 0.01) of them failed: HTTP 5xx, or a gRPC status in GRPC_ERROR_CODES (default
# 2|4|8|12|13|14|15: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS;
# the caller's own errors such as NOT_FOUND are not the canary's). A failed check, or too little traffic, rolls back.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "usage: $0 <gateway|orders|inventory|payments> <start <tag>|promote|rollback|status>" >&2
  [[ -n "${1:-}" ]] && echo "$1" >&2
  trap - ERR
  exit 64
}
(($# >= 2)) || usage
service=$1
action=$2
case "$service" in gateway | orders | inventory | payments) ;; *) usage ;; esac
STEPS=(5 25 50 100)
STEP_PAUSE="${STEP_PAUSE:-60}"
MAX_ERROR_RATIO="${MAX_ERROR_RATIO:-0.01}"
MIN_REQUESTS="${MIN_REQUESTS:-50}"
GRPC_ERROR_CODES="${GRPC_ERROR_CODES:-2|4|8|12|13|14|15}"
BUILD="${BUILD:-auto}"
[[ "$STEP_PAUSE" =~ ^[0-9]+$ ]] || usage "STEP_PAUSE must be a number of seconds, got '${STEP_PAUSE}'"
[[ "$MIN_REQUESTS" =~ ^[1-9][0-9]*$ ]] || usage "MIN_REQUESTS must be a positive integer, got '${MIN_REQUESTS}'"
[[ "$MAX_ERROR_RATIO" =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || usage "MAX_ERROR_RATIO must be between 0 and 1, got '${MAX_ERROR_RATIO}'"
[[ "$GRPC_ERROR_CODES" =~ ^[0-9]+(\|[0-9]+)*$ ]] || usage "GRPC_ERROR_CODES must be codes separated by |, got '${GRPC_ERROR_CODES}'"
case "$BUILD" in auto | always | never) ;; *) usage "BUILD must be auto, always or never, got '${BUILD}'" ;; esac
case "${CONTAINER_ENGINE:-docker}" in docker | podman) ;; *) usage "CONTAINER_ENGINE must be docker or podman, got '${CONTAINER_ENGINE}'" ;; esac
case "$action" in
  start) require_tools kubectl helm kind ;;
  promote)
    [[ -n "${PROMETHEUS_URL:-}" ]] || usage "promote needs PROMETHEUS_URL: without metrics a canary cannot be judged"
    require_tools kubectl helm curl
    ;;
  *) require_tools kubectl helm ;;
esac
chart="${REPO_ROOT}/helm"

container_engine() {
  if [[ -n "${CONTAINER_ENGINE:-}" ]]; then
    echo "$CONTAINER_ENGINE"
  elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  elif command -v podman >/dev/null 2>&1; then
    echo podman
  else
    echo "neither docker (with a running daemon) nor podman is available to build and load the canary image" >&2
    return 1
  fi
}

# ensure_image <tag>: the image is in the local engine (built if needed), then on every kind node.
ensure_image() {
  local tag=$1 engine image
  engine=$(container_engine)
  image="${IMAGE_REGISTRY}/${service}:${tag}"
  if [[ "$BUILD" == always ]] || { [[ "$BUILD" == auto ]] && ! "$engine" image inspect "$image" >/dev/null 2>&1; }; then
    log "building ${image} with ${engine}"
    CONTAINER_ENGINE="$engine" npm --prefix "$REPO_ROOT" run images -- --service "$service" --tag "$tag"
  fi
  if ! "$engine" image inspect "$image" >/dev/null 2>&1; then
    echo "image ${image} is not in ${engine}: build it (npm run images -- --service ${service} --tag ${tag}) or drop BUILD=never" >&2
    trap - ERR
    exit 1
  fi
  log "loading ${image} into kind cluster ${CLUSTER_NAME}"
  if [[ "$engine" == docker ]]; then
    kind load docker-image "$image" --name "$CLUSTER_NAME"
  else
    # kind loads from docker only; from podman it takes an archive.
    local archive
    archive=$(mktemp -d)/image.tar
    podman save --format docker-archive -o "$archive" "$image"
    kind load image-archive "$archive" --name "$CLUSTER_NAME"
    rm -rf "$(dirname "$archive")"
  fi
}

set_canary() { # set_canary <helm --set arguments...>
  helm upgrade "$RELEASE" "$chart" -n "$NAMESPACE" --reuse-values "$@" --wait --timeout 5m
}

current_weight() {
  local weight
  weight=$(kubectl -n "$NAMESPACE" get virtualservice "$service" \
    -o jsonpath='{.spec.http[?(@.name=="weighted")].route[1].weight}')
  echo "${weight:-0}"
}

check_canary() { # check_canary [metrics]
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
  if [[ "${1:-}" == metrics ]]; then
    check_metrics "$deploy" || return 1
  fi
}

# prom <query>: the value of a one-element instant vector (empty when Prometheus answered no sample).
prom() {
  curl -fsS --get "${PROMETHEUS_URL}/api/v1/query" --data-urlencode "query=$1" |
    sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
}

# check_metrics <deployment>: enough requests reached the canary's version, and few enough failed (5xx or a gRPC
# server error), counted by the receiving sidecars over the last step.
check_metrics() {
  local deploy=$1 version window selector total errors ratio
  version=$(kubectl -n "$NAMESPACE" get deployment "$deploy" -o jsonpath='{.metadata.labels.version}') || return 1
  [[ -n "$version" ]] || { echo "canary ${deploy}: no version label" >&2; return 1; }
  window="$((STEP_PAUSE > 30 ? STEP_PAUSE : 30))s"
  selector="reporter=\"destination\",destination_app=\"${service}\",destination_version=\"${version}\""
  total=$(prom "sum(increase(istio_requests_total{${selector}}[${window}])) or vector(0)") || return 1
  errors=$(prom "(sum(increase(istio_requests_total{${selector},response_code=~\"5..\"}[${window}])) or vector(0)) + (sum(increase(istio_requests_total{${selector},response_code!~\"5..\",grpc_response_status=~\"${GRPC_ERROR_CODES}\"}[${window}])) or vector(0))") || return 1
  total=${total:-0}
  errors=${errors:-0}
  if [[ "$total" == NaN ]] || awk -v t="$total" -v m="$MIN_REQUESTS" 'BEGIN { exit !(t < m) }'; then
    echo "canary ${deploy} (version ${version}): ${total} requests in ${window}, fewer than MIN_REQUESTS=${MIN_REQUESTS}: too little traffic to judge" >&2
    return 1
  fi
  ratio=$(awk -v e="$errors" -v t="$total" 'BEGIN { printf "%.4f", e / t }')
  echo "canary ${deploy} (version ${version}): ${errors} of ${total} requests failed (ratio ${ratio}) in ${window}"
  if awk -v r="$ratio" -v m="$MAX_ERROR_RATIO" 'BEGIN { exit !(r > m) }'; then
    echo "canary ${deploy}: error ratio ${ratio} above ${MAX_ERROR_RATIO} (HTTP 5xx and gRPC ${GRPC_ERROR_CODES})" >&2
    return 1
  fi
}

rollback() {
  log "rollback ${service}: 100% to stable, canary removed"
  set_canary --set "services.${service}.canary.weight=0" --set "services.${service}.canary.enabled=false"
}

case "$action" in
  start)
    (($# == 3)) || usage
    [[ "$3" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ && "$3" != latest ]] || usage "image tag '$3' is not a pinned tag"
    ensure_image "$3"
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
      if ! check_canary metrics; then
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
