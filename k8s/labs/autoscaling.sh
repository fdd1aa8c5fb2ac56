#!/usr/bin/env bash
# Lab autoscaling (book 10.5): catalogue reads from an in-cluster load generator (a Job running autocannon against
# the ingress gateway, from a namespace without sidecars, as outside traffic arrives) while the gateway runs one
# replica without its HorizontalPodAutoscaler; then the HPA (CPU, from metrics-server) scales it out under the same
# load. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Autoscaling under an in-cluster load generator: one gateway replica saturates, the HPA scales it out'
LAB_TOOLS=()
SCALE_SERVICE="${SCALE_SERVICE:-gateway}"
LOAD_NAMESPACE="${LOAD_NAMESPACE:-shop-load}"
# The load generator's image: Node 24 and autocannon from the npm registry (pinned), or an image that has it.
LOAD_IMAGE="${LOAD_IMAGE:-node:24-bookworm-slim}"
AUTOCANNON_VERSION="${AUTOCANNON_VERSION:-8.0.0}"
LOAD_CONNECTIONS="${LOAD_CONNECTIONS:-32}"
LOAD_DURATION_S="${LOAD_DURATION_S:-90}"
LOAD_TARGET="${LOAD_TARGET:-http://istio-ingressgateway.${ISTIO_NAMESPACE}.svc.cluster.local/v1/products}"
HPA_MAX="${HPA_MAX:-4}"

metrics_api() {
  kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}'
}
replicas() { kns get deployment "${SCALE_SERVICE}-stable" -o jsonpath='{.status.readyReplicas}'; }
scaled_out() { (($(replicas) > 1)); }

# load <name>: one autocannon run as a Job (bounded by activeDeadlineSeconds), waited for; sets LOAD_RPS, LOAD_P99
# (ms), LOAD_NON2XX and LOAD_ERRORS from its JSON result (the last line of its log).
load() {
  local job=$1 result
  kubectl create namespace "$LOAD_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n "$LOAD_NAMESPACE" delete job "$job" --ignore-not-found --wait=true
  kubectl -n "$LOAD_NAMESPACE" apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: ${job}
  labels: { app: shop-load }
spec:
  backoffLimit: 0
  activeDeadlineSeconds: $((LOAD_DURATION_S + 180))
  template:
    metadata:
      labels: { app: shop-load }
    spec:
      restartPolicy: Never
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: RuntimeDefault } }
      containers:
        - name: autocannon
          image: ${LOAD_IMAGE}
          env: [{ name: HOME, value: /tmp }, { name: npm_config_cache, value: /tmp/npm }]
          command: ["npx", "-y", "autocannon@${AUTOCANNON_VERSION}", "--json", "-c", "${LOAD_CONNECTIONS}",
            "-d", "${LOAD_DURATION_S}", "-H", "Host: ${EDGE_HOST}", "${LOAD_TARGET}"]
          resources: { requests: { cpu: 200m, memory: 128Mi }, limits: { cpu: "1", memory: 512Mi } }
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }
YAML
  kubectl -n "$LOAD_NAMESPACE" wait --for=condition=complete "job/${job}" --timeout "$((LOAD_DURATION_S + 180))s"
  result=$(kubectl -n "$LOAD_NAMESPACE" logs "job/${job}" | grep '^{' | tail -n 1)
  LOAD_RPS=$(jq -r '.requests.average // 0' <<<"$result")
  LOAD_P99=$(jq -r '.latency.p99 // 0' <<<"$result")
  LOAD_NON2XX=$(jq -r '(.non2xx // 0) + (.errors // 0) + (.timeouts // 0)' <<<"$result")
  LOAD_TOTAL=$(jq -r '.requests.total // 0' <<<"$result")
}

lab_break() {
  local available
  available=$(metrics_api)
  [[ "$available" == True ]] || {
    echo "the metrics API (v1beta1.metrics.k8s.io) is not Available (${available:-absent}): k8s/kind-up.sh installs metrics-server" >&2
    return 1
  }
  say "${SCALE_SERVICE}: no HPA, 1 replica"
  helm_set --set "services.${SCALE_SERVICE}.autoscaling.enabled=false" --set "services.${SCALE_SERVICE}.replicas=1"
}

lab_observe() {
  load shop-load-before
  state_put rps "$LOAD_RPS"
  check "${SCALE_SERVICE} ready replicas under load" '1 (nothing scales)' "$(replicas)" "$(is "$(replicas)" 1)"
  check "load: ${LOAD_CONNECTIONS} connections, ${LOAD_DURATION_S}s, p99" '> 200 ms (saturated)' "${LOAD_P99} ms (${LOAD_RPS} req/s, ${LOAD_TOTAL} requests)" "$(gt "$LOAD_P99" 200)"
}

lab_fix() {
  helm_set --set "services.${SCALE_SERVICE}.autoscaling.enabled=true" --set "services.${SCALE_SERVICE}.autoscaling.minReplicas=1" \
    --set "services.${SCALE_SERVICE}.autoscaling.maxReplicas=${HPA_MAX}"
}

lab_verify() {
  local cpu desired before
  load shop-load-after
  desired=$(kns get hpa "$SCALE_SERVICE" -o jsonpath='{.status.desiredReplicas}')
  cpu=$(kns get hpa "$SCALE_SERVICE" -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}')
  check "HPA ${SCALE_SERVICE} CPU utilization (from metrics-server)" 'reported' "${cpu:-<unknown>}%" "$(ge "${cpu:-0}" 1)"
  check "HPA ${SCALE_SERVICE} desired replicas under load" "> 1 (<= ${HPA_MAX})" "${desired:-0}" "$(gt "${desired:-0}" 1)"
  check "${SCALE_SERVICE} ready replicas" '> 1' "$(replicas)" "$(gt "$(replicas)" 1)"
  before=$(state_get rps)
  check 'load: requests/s' ">= observe's ${before:-?}" "${LOAD_RPS} (p99 ${LOAD_P99} ms)" "$(ge "$LOAD_RPS" "${before:-999999999}")"
  check 'load: errors and non-2xx' "<= 1% of ${LOAD_TOTAL}" "$LOAD_NON2XX" "$(le "$LOAD_NON2XX" "$(awk -v t="$LOAD_TOTAL" 'BEGIN { print t / 100 }')")"
}

lab_reset() {
  kubectl delete namespace "$LOAD_NAMESPACE" --ignore-not-found --wait=false
  helm_set --set "services.${SCALE_SERVICE}.autoscaling.enabled=true" --set "services.${SCALE_SERVICE}.autoscaling.minReplicas=2" \
    --set "services.${SCALE_SERVICE}.autoscaling.maxReplicas=10" --set "services.${SCALE_SERVICE}.replicas=2"
}
