#!/usr/bin/env bash
# Shared by the k8s/*.sh scripts: strict mode, a trap that names the failed command, prerequisite checks.
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
set -Eeuo pipefail

K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${K8S_DIR}/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-cloud-native-shop}"
NAMESPACE="${NAMESPACE:-shop}"
RELEASE="${RELEASE:-shop}"
IMAGE_REGISTRY="${IMAGE_REGISTRY:-cloud-native-shop}"
IMAGE_TAG="${IMAGE_TAG:-0.1.0}"
SERVICES=(gateway orders inventory payments)
# What has been created so far, reported if a later step fails.
CREATED=()

log() { printf '\n==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

on_error() {
  local status=$? line=$1 command=$2
  printf '\nFAILED (exit %s) at %s line %s:\n  %s\n' "$status" "${BASH_SOURCE[1]:-$0}" "$line" "$command" >&2
  if ((${#CREATED[@]} > 0)); then
    printf 'Already created and left in place: %s\n' "${CREATED[*]}" >&2
    printf 'Fix the cause and run the script again (every step is idempotent), or remove it all: k8s/kind-down.sh\n' >&2
  else
    printf 'Nothing was created.\n' >&2
  fi
  exit "$status"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR

# require_tools docker kind ...: report every missing tool at once, with where to get it.
require_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]} > 0)); then
    printf 'Missing prerequisites: %s\n' "${missing[*]}" >&2
    for tool in "${missing[@]}"; do
      case "$tool" in
        docker) echo '  docker:   https://docs.docker.com/engine/install/ (the daemon must be running)' >&2 ;;
        kind) echo '  kind:     https://kind.sigs.k8s.io/docs/user/quick-start/#installation (v0.24 or newer)' >&2 ;;
        kubectl) echo '  kubectl:  https://kubernetes.io/docs/tasks/tools/' >&2 ;;
        helm) echo '  helm:     https://helm.sh/docs/intro/install/ (v3.8 or newer)' >&2 ;;
        istioctl) echo '  istioctl: https://istio.io/latest/docs/setup/getting-started/#download (1.24 or newer)' >&2 ;;
        *) echo "  $tool" >&2 ;;
      esac
    done
    trap - ERR
    exit 2
  fi
}
