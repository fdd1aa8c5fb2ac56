#!/usr/bin/env bash
# Lab pvc-retention (incident scenario 6, the upgrade half): an upgrade that must recreate the PostgreSQL
# StatefulSet (an immutable field changed) deletes it; with the StatefulSet's PVC retention policy whenDeleted=Delete
# the claim goes with it, and with the volume's reclaim policy Delete the data too. Backup and restore bring it
# back; Retain keeps the claim through the next recreation. Sourced by run.sh (after drain-without-pdb.sh, whose
# helpers it uses: found, restore, restart_services).
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
# shellcheck source=SCRIPTDIR/drain-without-pdb.sh
source "${LABS_DIR}/drain-without-pdb.sh"
LAB_TITLE='PVC retention Delete: recreating the PostgreSQL StatefulSet in an upgrade deletes its data'
LAB_TOOLS=()

pvc_uid() { kns get pvc "$PG_PVC" -o jsonpath='{.metadata.uid}' 2>/dev/null || true; }
no_pvc() { [[ -z "$(pvc_uid)" ]]; }
sts_policy() { kns get statefulset postgresql -o jsonpath='{.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}'; }

# recreate: what the upgrade does: the StatefulSet deleted (its pods with it), then installed again by Helm.
recreate() {
  kns delete statefulset postgresql --wait=true --timeout "${WAIT_TIMEOUT_S}s"
  kns wait --for=delete "pod/${PG_POD}" --timeout "${WAIT_TIMEOUT_S}s" || true
  if [[ "$(state_get policy_sts)" == Delete ]]; then wait_until "claim ${PG_PVC} to be deleted" no_pvc; fi
  helm_set --set "${V_PG_PVC_RETENTION}=$(state_get policy_sts)"
  kns wait --for=condition=Ready "pod/${PG_POD}" --timeout "${WAIT_TIMEOUT_S}s"
  restart_services
}

lab_break() {
  save_values
  place_orders_and_back_up lab-pvc-retention
  state_put uid "$(pvc_uid)"
  state_put policy_sts Delete
  say "placed ${EDGE_2XX}/${ORDERS} orders, dumped ${DATABASES[*]}; ${V_PG_PVC_RETENTION}=Delete, then the upgrade"
  helm_set --set "${V_PG_PVC_RETENTION}=Delete"
  recreate
}

lab_observe() {
  local uid
  found
  check 'orders placed before the upgrade found' '<= 10%' "${FOUND}/${PLACED}" "$(le "$FOUND" "$((PLACED / 10))")"
  uid=$(pvc_uid)
  check "claim ${PG_PVC}" 'a new one (the old was deleted)' "${uid:0:8} (was $(state_get uid | cut -c1-8))" \
    "$([[ -n "$uid" && "$uid" != "$(state_get uid)" ]] && echo true || echo false)"
  check 'StatefulSet PVC retention whenDeleted' 'Delete (the cause)' "$(sts_policy)" "$(is "$(sts_policy)" Delete)"
}

lab_fix() {
  restore
  state_put policy_sts Retain
  helm_set --set "${V_PG_PVC_RETENTION}=Retain"
}

lab_verify() {
  local uid
  found
  check 'orders placed before the upgrade found (restored)' '>= 90%' "${FOUND}/${PLACED}" "$(ge "$((FOUND * 10))" "$((PLACED * 9))")"
  check 'StatefulSet PVC retention whenDeleted' 'Retain' "$(sts_policy)" "$(is "$(sts_policy)" Retain)"
  # The same upgrade again: the claim survives and the recreated pod mounts it.
  uid=$(pvc_uid)
  recreate
  check "claim ${PG_PVC} after a second recreation" 'the same' "$(pvc_uid | cut -c1-8) (was ${uid:0:8})" "$(is "$(pvc_uid)" "$uid")"
  found
  check 'orders found after the second recreation' '>= 90%' "${FOUND}/${PLACED}" "$(ge "$((FOUND * 10))" "$((PLACED * 9))")"
}

lab_reset() {
  if [[ "$(state_get restored)" == no ]]; then restore; fi
  if [[ -s "${STATE_DIR}/values-before.yaml" ]]; then helm_values; fi
  rm -f "${STATE_DIR}/values-before.yaml"
}
