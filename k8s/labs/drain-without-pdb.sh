#!/usr/bin/env bash
# Lab drain-without-pdb (incident scenario 6, the cluster half): the node of PostgreSQL is drained with no
# PodDisruptionBudget and replaced, its volume has reclaim policy Delete: the data goes with it. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Drain without a PodDisruptionBudget: the PostgreSQL volume is deleted with its node'
LAB_TOOLS=()
DATABASES=(orders inventory payments)
ORDERS="${ORDERS:-6}"
PG_POD=postgresql-0
PG_PVC=data-postgresql-0

pg() { kns exec "$@"; }
pv_of_pvc() { kns get pvc "$PG_PVC" -o jsonpath='{.spec.volumeName}'; }
pv_gone() { ! kubectl get pv "$1" >/dev/null 2>&1; }

# found: how many of the orders placed before the drain GET /v1/orders/<id> still finds. Sets FOUND, PLACED.
found() {
  local id n=0 total=0
  # As the customer who placed them (a later phase: a new token).
  edge_sign_in "$(state_get customer)" "$(state_get password)"
  while read -r id; do
    [[ -n "$id" ]] || continue
    total=$((total + 1))
    edge 1 GET "/v1/orders/${id}"
    n=$((n + EDGE_2XX))
  done <"${STATE_DIR}/orders"
  FOUND=$n PLACED=$total
}

restart_services() {
  local s
  for s in "${DATABASES[@]}"; do rollout "deployment/${s}-stable"; done
}

restore() {
  local db
  for db in "${DATABASES[@]}"; do
    say "restoring ${db} from ${STATE_DIR}/${db}.dump"
    pg -i "$PG_POD" -c postgresql -- pg_restore -U postgres -d "$db" --clean --if-exists --single-transaction \
      <"${STATE_DIR}/${db}.dump"
  done
  restart_services
  state_put restored yes
}

# Places $ORDERS orders as a fresh customer of the lab (<lab id>, kept in the lab's state), lets the saga settle,
# then takes the runbook's pre-upgrade step (the one the incident skipped): a dump of every database, same major
# version, into the state folder. Shared with pvc-retention.
place_orders_and_back_up() {
  local body db
  edge_customer "$1"
  state_put customer "$EDGE_CUSTOMER"
  state_put password "${EDGE_PASSWORD:-}"
  body="{\"customerId\":\"${EDGE_CUSTOMER}\",\"items\":[{\"sku\":\"SKU-0001\",\"quantity\":1}]}"
  edge "$ORDERS" POST /v1/orders "$body"
  printf '%s' "$EDGE_BODIES" | jq -r '.id // empty' >"${STATE_DIR}/orders"
  say "placed ${EDGE_2XX}/${ORDERS} orders; the saga settles for ${ORDER_SETTLE_S:-5}s"
  sleep "${ORDER_SETTLE_S:-5}"
  for db in "${DATABASES[@]}"; do
    pg "$PG_POD" -c postgresql -- pg_dump -U postgres -Fc "$db" >"${STATE_DIR}/${db}.dump"
    [[ -s "${STATE_DIR}/${db}.dump" ]] || {
      echo "the dump of ${db} is empty" >&2
      return 1
    }
  done
  state_put restored no
}

lab_break() {
  local node pv
  place_orders_and_back_up lab-drain-without-pdb
  node=$(kns get pod "$PG_POD" -o jsonpath='{.spec.nodeName}')
  pv=$(pv_of_pvc)
  state_put node "$node"
  state_put pv "$pv"
  state_put policy "$(kubectl get pv "$pv" -o jsonpath='{.spec.persistentVolumeReclaimPolicy}')"
  say "PostgreSQL runs on ${node}, volume ${pv} (reclaim policy $(state_get policy)); draining the node"
  kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout "${WAIT_TIMEOUT_S}s"
  # The upgrade replaces the node: its local volume is gone, and the claim bound to it is deleted to let the pod
  # start elsewhere. With reclaim policy Delete the PersistentVolume and its data go too.
  kns delete pvc "$PG_PVC" --wait=false
  kns delete pod "$PG_POD" --wait=false
  wait_until "PersistentVolume ${pv} to be deleted" pv_gone "$pv"
  kubectl uncordon "$node"
  kns wait --for=condition=Ready "pod/${PG_POD}" --timeout "${WAIT_TIMEOUT_S}s"
  # The services come back on an empty database, as rescheduled pods do: their migrations create empty schemas.
  restart_services
}

lab_observe() {
  local pdbs
  found
  check 'orders placed before the drain found (GET /v1/orders/:id)' '<= 10%' "${FOUND}/${PLACED}" \
    "$(le "$FOUND" "$((PLACED / 10))")"
  pdbs=$(kns get pdb -l app=postgresql -o name | grep -c . || true)
  check 'PodDisruptionBudgets of postgresql' '0 (the drain evicted it at once)' "$pdbs" "$(is "$pdbs" 0)"
  check 'reclaim policy of the lost volume' 'Delete (the cause)' "$(state_get policy)" "$(is "$(state_get policy)" Delete)"
}

lab_fix() {
  restore
  # Prevention: the drain stops at the PDB until the operator has a backup; a deleted claim keeps its volume.
  helm_set --set postgresql.pdb.enabled=true
  kubectl patch pv "$(pv_of_pvc)" -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'
}

lab_verify() {
  local node out refused policy
  found
  check 'orders placed before the drain found' '>= 90%' "${FOUND}/${PLACED}" "$(ge "$((FOUND * 10))" "$((PLACED * 9))")"
  edge_customer lab-drain-without-pdb
  edge 1 POST /v1/orders "{\"customerId\":\"${EDGE_CUSTOMER}\",\"items\":[{\"sku\":\"SKU-0001\",\"quantity\":1}]}"
  check 'a new order' '201' "$EDGE_CODES" "$(is "$EDGE_2XX" 1)"
  node=$(kns get pod "$PG_POD" -o jsonpath='{.spec.nodeName}')
  # A server-side dry run evaluates the evictions against the budgets without evicting anything.
  out=$(kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --dry-run=server --timeout 20s 2>&1) || true
  refused=false
  if grep -q 'disruption budget' <<<"$out"; then refused=true; fi
  check "a drain of ${node} (server dry run)" 'refused by the PDB' "$(grep -m1 -o 'violate[^.]*\|evicted[^.]*' <<<"$out" || echo "${out:0:60}")" "$refused"
  policy=$(kubectl get pv "$(pv_of_pvc)" -o jsonpath='{.spec.persistentVolumeReclaimPolicy}')
  check 'reclaim policy of the PostgreSQL volume' 'Retain' "$policy" "$(is "$policy" Retain)"
}

lab_reset() {
  local node
  node=$(state_get node)
  if [[ -n "$node" ]]; then kubectl uncordon "$node"; fi
  # Without the fix the data is still lost: restore it, so that the next lab starts from consistent data.
  if [[ "$(state_get restored)" == no ]]; then restore; fi
  helm_set --set postgresql.pdb.enabled=false
  if [[ -n "$(state_get policy)" ]]; then
    kubectl patch pv "$(pv_of_pvc)" -p "{\"spec\":{\"persistentVolumeReclaimPolicy\":\"$(state_get policy)\"}}"
  fi
}
