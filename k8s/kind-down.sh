#!/usr/bin/env bash
# Deletes the kind cluster created by kind-up.sh, and with it everything installed into it.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools kind

if kind get clusters | grep -qx "$CLUSTER_NAME"; then
  kind delete cluster --name "$CLUSTER_NAME"
  echo "cluster ${CLUSTER_NAME} deleted"
else
  echo "no kind cluster named ${CLUSTER_NAME}: nothing to delete"
fi
