#!/usr/bin/env bash
# Loads the platform's own Prometheus rules and Grafana dashboards (owned by observability/) into the cluster:
# every observability/prometheus/rules/*.yml becomes a PrometheusRule, every
# observability/grafana/dashboards/*.json a ConfigMap that Grafana's sidecar picks up.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools kubectl

rules_dir="${REPO_ROOT}/observability/prometheus/rules"
dashboards_dir="${REPO_ROOT}/observability/grafana/dashboards"
shopt -s nullglob
rules=("${rules_dir}"/*.yml)
dashboards=("${dashboards_dir}"/*.json)
((${#rules[@]} > 0)) || warn "no rule files in ${rules_dir}"
((${#dashboards[@]} > 0)) || warn "no dashboards in ${dashboards_dir}"

for file in "${rules[@]}"; do
  name="shop-$(basename "$file" .yml)"
  # A rule file holds `groups:`; a PrometheusRule carries the same document under spec.
  {
    printf 'apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n'
    printf 'metadata:\n  name: %s\n  namespace: monitoring\n  labels:\n    release: kube-prometheus-stack\n' "$name"
    printf 'spec:\n'
    sed 's/^/  /' "$file"
  } | kubectl apply -f -
done

for file in "${dashboards[@]}"; do
  name="shop-dashboard-$(basename "$file" .json)"
  kubectl -n monitoring create configmap "$name" --from-file="$(basename "$file")=${file}" \
    --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n monitoring label configmap "$name" grafana_dashboard=1 --overwrite
done
