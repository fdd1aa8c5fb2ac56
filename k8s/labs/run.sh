#!/usr/bin/env bash
# The cluster-only labs (docs/labs/README.md, "On a cluster"), with the phases of the local runner:
#   k8s/labs/run.sh <id> [break|observe|fix|verify|reset] [--no-fix]
# Without a phase every phase runs (reset even after a failure); --no-fix skips fix, and verify must then fail.
# Prints a table of check / expected / measured per graded phase. Exit 0: every check held; 1: a miss or a failed
# step; 2: usage, a missing tool, or a kubectl context that is not the kind cluster of k8s/kind-up.sh.
# Environment: CLUSTER_NAME, NAMESPACE, RELEASE (k8s/lib.sh), EDGE_URL, EDGE_HOST, WAIT_TIMEOUT_S, POLL_S,
# SCRAPE_SETTLE_S (k8s/labs/lib.sh), K8S_LAB_STATE_DIR (default .local/k8s-labs), K8S_LAB_ANY_CONTEXT=1 (run
# against another context: the labs scale CoreDNS to 0, drain nodes and replace the mesh CA).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAB_IDS=(mesh-cert-rotation mesh-latency coredns-outage istiod-outage call-graph-edge drain-without-pdb pvc-retention
  mesh-retry-storm mesh-canary-rollback mesh-fault-injection outlier-detection autoscaling multi-cluster)
PHASES=(break observe fix verify reset)

usage() {
  [[ -n "${1:-}" ]] && echo "$1" >&2
  echo "usage: $0 <$(
    IFS='|'
    echo "${LAB_IDS[*]}"
  )> [$(
    IFS='|'
    echo "${PHASES[*]}"
  )] [--no-fix]" >&2
  trap - ERR
  exit 2
}

id='' phase='' no_fix=false
for arg in "$@"; do
  case "$arg" in
    --no-fix) no_fix=true ;;
    --help | -h) usage ;;
    -*) usage "unknown option ${arg}" ;;
    *)
      if [[ -z "$id" ]]; then
        id=$arg
      elif [[ -z "$phase" ]]; then
        phase=$arg
      else
        usage "unexpected argument ${arg}"
      fi
      ;;
  esac
done
[[ -n "$id" ]] || usage
if [[ -n "$phase" && ! " ${PHASES[*]} " =~ \ ${phase}\  ]]; then usage "unknown phase ${phase}"; fi

LAB_TOOLS=()
if [[ " ${LAB_IDS[*]} " =~ \ ${id}\  ]]; then
  # shellcheck source=/dev/null # one of k8s/labs/<id>.sh, each checked by shellcheck on its own
  source "${LABS_DIR}/${id}.sh"
else
  usage "unknown lab ${id}"
fi
require_tools kubectl helm jq curl "${LAB_TOOLS[@]}"

context=$(kubectl config current-context 2>/dev/null || true)
if [[ "$context" != "kind-${CLUSTER_NAME}" && "${K8S_LAB_ANY_CONTEXT:-0}" != 1 ]]; then
  echo "the current kubectl context is '${context}', not kind-${CLUSTER_NAME} (k8s/kind-up.sh):" >&2
  echo "  the labs break a cluster on purpose. Switch with: kubectl config use-context kind-${CLUSTER_NAME}" >&2
  echo "  (or set K8S_LAB_ANY_CONTEXT=1 to run against '${context}')" >&2
  exit 2
fi

STATE_DIR="${K8S_LAB_STATE_DIR:-${REPO_ROOT}/.local/k8s-labs}/${id}"
mkdir -p "$STATE_DIR"
CHECKS_FILE="${STATE_DIR}/checks.tsv"

# shellcheck disable=SC2317 # called by the ERR trap of run_phase
phase_error() {
  local status=$? line=$1 command=$2
  printf 'FAILED (exit %s) at %s line %s: %s\n' "$status" "${BASH_SOURCE[1]:-$0}" "$line" "$command" >&2
  exit "$status"
}
# A failed step fails its phase (run_phase), not the whole run: reset must still run.
trap - ERR

SUMMARY=()
# run_phase <phase>: runs lab_<phase> in a subshell with errexit; prints its checks; returns 0 held, 1 missed.
# Called with errexit off (the caller's set +e), so that its own status can be returned.
run_phase() {
  local p=$1 status misses t0=$SECONDS
  : >"$CHECKS_FILE"
  printf '\n-- %s\n' "$p"
  (
    set -e
    trap 'phase_error "$LINENO" "$BASH_COMMAND"' ERR
    "lab_${p}"
  )
  status=$?
  if [[ -s "$CHECKS_FILE" ]]; then
    {
      printf 'ok\tcheck\texpected\tmeasured\n'
      awk -F '\t' '{ printf "%s\t%s\t%s\t%s\n", ($4 == "true") ? "ok" : "MISS", $1, $2, $3 }' "$CHECKS_FILE"
    } | awk -F '\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
      END { for (r = 1; r <= NR; r++) { line = "   "; for (i = 1; i <= 4; i++) line = line " " sprintf("%-" w[i] "s", c[r, i]); sub(/ +$/, "", line); print line } }'
  fi
  misses=$(awk -F '\t' '$4 != "true"' "$CHECKS_FILE" | wc -l | tr -d ' ')
  local verdict=ok
  if ((status != 0)); then
    verdict="MISS  error: step failed (exit ${status})"
  elif ((misses > 0)); then
    verdict="MISS  ${misses} check(s) missed"
  fi
  SUMMARY+=("$(printf '%-8s %s  %ss' "$p" "$verdict" "$((SECONDS - t0))")")
  [[ "$verdict" == ok ]]
}

wanted=("${PHASES[@]}")
[[ -n "$phase" ]] && wanted=("$phase")
say "lab ${id}: ${LAB_TITLE} (context ${context}, namespace ${NAMESPACE}, state ${STATE_DIR})"
failed=false verify_ran=false verify_ok=false reset_failed=false rc=0
for p in "${wanted[@]}"; do
  if [[ "$p" == fix && "$no_fix" == true ]]; then
    say $'\nfix: skipped (--no-fix): verify is expected to fail'
    continue
  fi
  if [[ "$failed" == true && "$p" != reset ]]; then continue; fi
  # Not in a condition: there bash would ignore errexit inside the phase, and a failed step would go unnoticed.
  set +e
  run_phase "$p"
  rc=$?
  set -e
  if ((rc == 0)); then
    [[ "$p" == verify ]] && verify_ran=true verify_ok=true
  else
    [[ "$p" == verify ]] && verify_ran=true
    # A missed observation means the break did not break: stop grading (reset still runs).
    [[ "$p" == reset ]] || failed=true
    [[ "$p" == reset ]] && reset_failed=true
  fi
done

printf '\n'
printf '%s\n' "${SUMMARY[@]}"
if [[ "$failed" == false && "$reset_failed" == false ]]; then
  if [[ "$no_fix" == true && "$verify_ran" == true ]]; then
    say "${id}: verify PASSED without the fix: the grade does not measure the incident (a defect of the lab)"
  else
    say "${id}: every check held"
  fi
  exit 0
fi
if [[ "$no_fix" == true && "$verify_ran" == true && "$verify_ok" == false ]]; then
  say "${id}: verify failed without the fix, as expected (--no-fix)"
else
  say "${id}: MISSED checks"
fi
exit 1
