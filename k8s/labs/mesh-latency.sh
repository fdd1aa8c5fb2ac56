#!/usr/bin/env bash
# Lab mesh-latency (incident scenario 2): the gateway's sidecar runs on a starved CPU limit and, with no `Sidecar`
# egress scope, holds the configuration of every service in the mesh; it is throttled and slow. The fix: sidecar
# resources that fit (pod annotations) and a `Sidecar` scope listing only the call-graph targets. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Mesh latency at scale: a starved, unscoped gateway sidecar is throttled and holds every cluster of the mesh'
LAB_TOOLS=(istioctl)
LATENCY_SERVICE="${LATENCY_SERVICE:-gateway}"
DEFAULT_STARVED='{"sidecar.istio.io/proxyCPU":"10m","sidecar.istio.io/proxyCPULimit":"20m"}'
DEFAULT_FITTING='{"sidecar.istio.io/proxyCPU":"100m","sidecar.istio.io/proxyCPULimit":"1"}'
STARVED_ANNOTATIONS="${STARVED_ANNOTATIONS:-$DEFAULT_STARVED}"
FITTING_ANNOTATIONS="${FITTING_ANNOTATIONS:-$DEFAULT_FITTING}"
# Upstream clusters a scoped sidecar may hold: its call-graph targets (a few ports each) plus Envoy's own.
MAX_SCOPED_CLUSTERS="${MAX_SCOPED_CLUSTERS:-25}"
PROBES="${PROBES:-40}"
THROTTLE_Q="sum(rate(container_cpu_cfs_throttled_periods_total{namespace=\"${NAMESPACE}\",pod=~\"${LATENCY_SERVICE}-stable-.*\",container=\"istio-proxy\"}[2m])) / sum(rate(container_cpu_cfs_periods_total{namespace=\"${NAMESPACE}\",pod=~\"${LATENCY_SERVICE}-stable-.*\",container=\"istio-proxy\"}[2m]))"

clusters() {
  istioctl proxy-config cluster "deploy/${LATENCY_SERVICE}-stable" -n "$NAMESPACE" -o json | jq length
}
throttled() {
  local v
  v=$(prom "$THROTTLE_Q")
  awk -v v="${v:-0}" 'BEGIN { printf "%.2f", (v == "NaN") ? 0 : v }'
}
probe() { edge "$PROBES" GET /v1/products; }

lab_break() {
  say "sidecar of ${LATENCY_SERVICE}: ${STARVED_ANNOTATIONS}; ${V_SIDECAR_SCOPE}=false"
  helm_set --set-json "$(v_pod_annotations "$LATENCY_SERVICE")=${STARVED_ANNOTATIONS}" --set "${V_SIDECAR_SCOPE}=false"
}

lab_observe() {
  local n t
  n=$(clusters)
  check "clusters in the ${LATENCY_SERVICE} sidecar" "> ${MAX_SCOPED_CLUSTERS} (the whole mesh)" "$n" "$(gt "$n" "$MAX_SCOPED_CLUSTERS")"
  probe
  sleep "$SCRAPE_SETTLE_S"
  t=$(throttled)
  check "istio-proxy CPU periods throttled (${LATENCY_SERVICE})" '>= 0.25' "$t" "$(ge "$t" 0.25)"
  state_put p50 "$EDGE_P50"
  check 'GET /v1/products p50' 'measured, compared in verify' "${EDGE_P50} s" "$(gt "$EDGE_P50" 0)"
}

lab_fix() {
  helm_set --set-json "$(v_pod_annotations "$LATENCY_SERVICE")=${FITTING_ANNOTATIONS}" --set "${V_SIDECAR_SCOPE}=true"
}

lab_verify() {
  local n t before
  n=$(clusters)
  check "clusters in the ${LATENCY_SERVICE} sidecar" "<= ${MAX_SCOPED_CLUSTERS} (its call-graph targets)" "$n" "$(le "$n" "$MAX_SCOPED_CLUSTERS")"
  probe
  sleep "$SCRAPE_SETTLE_S"
  t=$(throttled)
  check "istio-proxy CPU periods throttled (${LATENCY_SERVICE})" '<= 0.05' "$t" "$(le "$t" 0.05)"
  before=$(state_get p50)
  check 'GET /v1/products p50' "< observe's ${before:-?} s" "${EDGE_P50} s" \
    "$([[ -n "$before" ]] && awk -v a="$EDGE_P50" -v b="$before" 'BEGIN { print (a < b) ? "true" : "false" }' || echo false)"
}

lab_reset() {
  helm_set --set-json "$(v_pod_annotations "$LATENCY_SERVICE")={}" --set "${V_SIDECAR_SCOPE}=false"
}
