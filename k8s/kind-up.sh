#!/usr/bin/env bash
# Creates a kind cluster with Istio and the observability stack, builds and loads the images, installs the chart
# and runs `helm test`. Stops at the first failed step and prints the command that failed.
# Environment: CLUSTER_NAME, NAMESPACE, RELEASE, IMAGE_TAG, SKIP_OBSERVABILITY=1, HELM_TIMEOUT (default 10m),
# KPS_CHART_VERSION, JAEGER_CHART_VERSION, OTEL_CHART_VERSION (pinned chart versions of the observability stack),
# METRICS_SERVER_CHART_VERSION (pinned metrics-server chart: the autoscalers' CPU metrics),
# MESH=false: no Istio at all (namespace labelled istio-injection=disabled, chart with mesh.enabled=false),
# ISTIOCTL: the istioctl to use; its client version must equal the tag pinned in k8s/istio/istio-operator.yaml.
# SHOP_OIDC_ISSUER: the OpenID Connect issuer whose tokens the release accepts (auth.oidc.issuer), reachable under
# that same URL from this machine and from the pods, e.g. tools/issuer on the docker bridge:
#   ISSUER_HOST=0.0.0.0 ISSUER_URL=http://172.18.0.1:8090 ISSUER_STATE_DIR=.local/kind-issuer \
#     node tools/issuer/dist/src/main.js
# (docs/kubernetes.md, "Identity"). Unset: the release runs with auth.mode=open, loudly (no authentication).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MESH="${MESH:-true}"
if [[ "$MESH" != true && "$MESH" != false ]]; then
  echo "MESH must be true or false, not '${MESH}'" >&2
  echo 'usage: [MESH=true|false] [SKIP_OBSERVABILITY=1] [SHOP_OIDC_ISSUER=<url>] k8s/kind-up.sh' >&2
  exit 2
fi
ISTIOCTL="${ISTIOCTL:-istioctl}"
if [[ "$MESH" == true ]]; then
  require_tools docker kind kubectl helm "$ISTIOCTL"
else
  require_tools docker kind kubectl helm
fi
if ! docker info >/dev/null 2>&1; then
  echo 'docker is installed but its daemon does not answer (docker info failed): start Docker first.' >&2
  exit 2
fi
HELM_TIMEOUT="${HELM_TIMEOUT:-10m}"
METRICS_SERVER_CHART_VERSION="${METRICS_SERVER_CHART_VERSION:-3.13.0}"
cd "$REPO_ROOT" || exit

if [[ "$MESH" == true ]]; then
  # The IstioOperator pins the control plane's tag; an istioctl of another version would install its own defaults
  # and proxies that the pinned control plane does not match. Checked before anything is created.
  ISTIO_PINNED="$(sed -n 's/^  tag: *//p' "${K8S_DIR}/istio/istio-operator.yaml" | head -n1)"
  ISTIO_CLIENT="$("$ISTIOCTL" version --remote=false 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)"
  if [[ -z "$ISTIO_PINNED" ]]; then
    echo "k8s/istio/istio-operator.yaml pins no 'tag:': cannot check istioctl" >&2
    exit 2
  fi
  if [[ "$ISTIO_CLIENT" != "$ISTIO_PINNED" ]]; then
    echo "istioctl is version '${ISTIO_CLIENT:-unknown}' but k8s/istio/istio-operator.yaml pins Istio ${ISTIO_PINNED}:" >&2
    echo "  install istioctl ${ISTIO_PINNED} (https://github.com/istio/istio/releases/tag/${ISTIO_PINNED}) and set ISTIOCTL=<path> if it is not first on PATH" >&2
    exit 2
  fi
fi

log "kind cluster ${CLUSTER_NAME}"
if kind get clusters | grep -qx "$CLUSTER_NAME"; then
  echo "cluster ${CLUSTER_NAME} exists: reusing it"
else
  kind create cluster --name "$CLUSTER_NAME" --config "${K8S_DIR}/kind-config.yaml" --wait 120s
fi
CREATED+=("kind cluster ${CLUSTER_NAME}")
kubectl config use-context "kind-${CLUSTER_NAME}"

log "metrics-server ${METRICS_SERVER_CHART_VERSION} (the HorizontalPodAutoscalers' CPU metrics; kind's kubelets serve self-signed certificates)"
helm repo add metrics-server https://kubernetes-sigs.github.io/metrics-server/ --force-update
helm upgrade --install metrics-server metrics-server/metrics-server --version "$METRICS_SERVER_CHART_VERSION" \
  -n kube-system --set 'args[0]=--kubelet-insecure-tls' --wait --timeout "$HELM_TIMEOUT"
CREATED+=("metrics-server in kube-system")

if [[ "$MESH" == true ]]; then
  log "Istio ${ISTIO_PINNED} with the Istio CNI node agent (istioctl, k8s/istio/istio-operator.yaml)"
  "$ISTIOCTL" install -y -f "${K8S_DIR}/istio/istio-operator.yaml"
  kubectl apply -f "${K8S_DIR}/istio/telemetry.yaml"
  CREATED+=("Istio in istio-system")
fi

# Pod Security Standard "restricted" is enforced on the namespace: it holds because every pod of the chart runs
# non-root, without privilege escalation, with all capabilities dropped and the RuntimeDefault seccomp profile,
# and with the mesh the Istio CNI agent sets up the traffic redirection, so the injected pods carry no istio-init
# container with NET_ADMIN/NET_RAW (only the unprivileged istio-validation one).
log "namespace ${NAMESPACE}: Pod Security restricted, sidecar injection $([[ "$MESH" == true ]] && echo enabled || echo disabled)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NAMESPACE" "istio-injection=$([[ "$MESH" == true ]] && echo enabled || echo disabled)" \
  pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/enforce-version=latest \
  pod-security.kubernetes.io/warn=restricted --overwrite
CREATED+=("namespace ${NAMESPACE}")

if [[ "${SKIP_OBSERVABILITY:-0}" != 1 ]]; then
  log 'observability: Prometheus and Grafana (monitoring), OpenTelemetry Collector and Jaeger (observability)'
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update
  helm repo add open-telemetry https://open-telemetry.github.io/opentelemetry-helm-charts --force-update
  helm repo add jaegertracing https://jaegertracing.github.io/helm-charts --force-update
  helm repo update
  kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply -f -
  kubectl create namespace observability --dry-run=client -o yaml | kubectl apply -f -
  helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --version "${KPS_CHART_VERSION:-77.0.0}" \
    -n monitoring -f "${K8S_DIR}/observability/kube-prometheus-stack-values.yaml" --wait --timeout "$HELM_TIMEOUT"
  CREATED+=("kube-prometheus-stack in monitoring")
  helm upgrade --install jaeger jaegertracing/jaeger --version "${JAEGER_CHART_VERSION:-3.4.1}" \
    -n observability -f "${K8S_DIR}/observability/jaeger-values.yaml" --wait --timeout "$HELM_TIMEOUT"
  helm upgrade --install otel-collector open-telemetry/opentelemetry-collector --version "${OTEL_CHART_VERSION:-0.111.2}" \
    -n observability -f "${K8S_DIR}/observability/otel-collector-values.yaml" --wait --timeout "$HELM_TIMEOUT"
  CREATED+=("jaeger and otel-collector in observability")
  "${K8S_DIR}/observability-assets.sh"
fi

log "images ${IMAGE_REGISTRY}/<service>:${IMAGE_TAG} (Dockerfile, pruned workspace)"
for service in "${SERVICES[@]}"; do
  docker build --build-arg "SERVICE=${service}" -t "${IMAGE_REGISTRY}/${service}:${IMAGE_TAG}" "$REPO_ROOT"
  kind load docker-image --name "$CLUSTER_NAME" "${IMAGE_REGISTRY}/${service}:${IMAGE_TAG}"
done

AUTH_ARGS=()
if [[ -n "${SHOP_OIDC_ISSUER:-}" ]]; then
  log "identity: tokens of ${SHOP_OIDC_ISSUER}; every helm test registers a fresh customer there (POST /accounts)"
  AUTH_ARGS=(--set auth.mode=oidc --set "auth.oidc.issuer=${SHOP_OIDC_ISSUER}" --set helmTest.auth.register=true)
else
  log '!!! SHOP_OIDC_ISSUER is not set: auth.mode=open, NO AUTHENTICATION at the edge (any caller acts as any customer) !!!'
  AUTH_ARGS=(--set auth.mode=open)
fi

log "chart helm/ as release ${RELEASE}"
helm upgrade --install "$RELEASE" "${REPO_ROOT}/helm" -n "$NAMESPACE" \
  --set "image.registry=${IMAGE_REGISTRY}" --set "image.tag=${IMAGE_TAG}" --set image.pullPolicy=Never \
  --set "mesh.enabled=${MESH}" "${AUTH_ARGS[@]}" --wait --timeout "$HELM_TIMEOUT"
CREATED+=("release ${RELEASE} in ${NAMESPACE}")

log 'helm test: place an order through the gateway and wait for APPROVED'
helm test "$RELEASE" -n "$NAMESPACE" --logs --timeout 5m

cat <<MSG

The platform is up. REST edge through the Istio ingress gateway (with SHOP_OIDC_ISSUER set, as alice):
  curl -sS -H 'Host: shop.localtest.me' -H 'content-type: application/json' \\
    -H "Authorization: Bearer \$(npm run -s token -- alice --issuer ${SHOP_OIDC_ISSUER:-<issuer>})" \\
    -d '{"customerId":"alice","items":[{"sku":"SKU-0001","quantity":1}]}' http://127.0.0.1:8080/v1/orders
Grafana:  kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80   (admin / shop-admin)
Jaeger:   kubectl -n observability port-forward svc/jaeger-query 16686:16686
Canary:   k8s/canary.sh orders start 0.2.0 && k8s/canary.sh orders promote
Remove:   k8s/kind-down.sh
MSG
