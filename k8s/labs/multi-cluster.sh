#!/usr/bin/env bash
# Lab multi-cluster (incident scenarios 5 and 9): two more kind clusters, east and west, joined by routes between
# their nodes (flat pod networking, as the incident's clusters were). West is built with the same pod range as east
# (k8s/kind-multi-west-overlap.yaml): a call from east to a west pod address stays in east or goes nowhere. Fixed
# by rebuilding west with a range of its own (k8s/kind-multi-west.yaml); then the cross-cluster latency (the
# regions' distance emulated with netem on west's node, CROSS_DELAY_MS) is measured against an in-cluster call.
# The quickstart's cluster is not touched. Sourced by run.sh.
# shellcheck disable=SC2034 # LAB_TITLE and LAB_TOOLS are read by run.sh
LAB_TITLE='Multi-cluster: overlapping pod ranges break cross-cluster calls; distinct ranges restore them, at a latency cost'
LAB_TOOLS=(kind docker)
EAST=shop-east
WEST=shop-west
ECHO_IMAGE="${ECHO_IMAGE:-registry.k8s.io/e2e-test-images/agnhost:2.53}"
CLIENT_IMAGE="${CLIENT_IMAGE:-curlimages/curl:8.11.1}"
CROSS_DELAY_MS="${CROSS_DELAY_MS:-25}"
CALLS="${CALLS:-10}"

kc() { # kc <east|west> <kubectl args...>
  local c=$EAST
  [[ "$1" == west ]] && c=$WEST
  shift
  kubectl --context "kind-${c}" "$@"
}
node_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1-control-plane"; }
pod_cidr() { kc "$1" get nodes -o jsonpath='{.items[0].spec.podCIDR}'; }

create() { # create <cluster> <config file>
  if kind get clusters | grep -qx "$1"; then
    say "cluster $1 exists: reusing it"
  else
    kind create cluster --name "$1" --config "${K8S_DIR}/$2" --wait 120s
  fi
}

# workloads <east|west>: an echo pod echo-<east|west> (it answers /hostname with its name); a curl client in east.
# East's echo is created first, in the same order as west's: with overlapping ranges both get the same address.
workloads() {
  kc "$1" run "echo-$1" --image "$ECHO_IMAGE" --restart=Never --port 8080 --dry-run=client -o yaml \
    -- netexec --http-port=8080 | kc "$1" apply -f -
  if [[ "$1" == east ]]; then
    kc east run client --image "$CLIENT_IMAGE" --restart=Never --dry-run=client -o yaml --command \
      -- sleep 86400 | kc east apply -f -
    kc east wait --for=condition=Ready pod/client --timeout "${WAIT_TIMEOUT_S}s"
  fi
  kc "$1" wait --for=condition=Ready "pod/echo-$1" --timeout "${WAIT_TIMEOUT_S}s"
}

# Routes between the nodes, as the incident's flat network had: west's pod range via west's node, and back.
routes() {
  docker exec "${EAST}-control-plane" ip route replace "$(pod_cidr west)" via "$(node_ip "$WEST")"
  docker exec "${WEST}-control-plane" ip route replace "$(pod_cidr east)" via "$(node_ip "$EAST")"
}

# call <ip>: CALLS requests from east's client to <ip>:8080/hostname. Sets ANSWERS ("echo-east:9 none:1"), WEST_SHARE
# (share answered by west's echo) and P50_MS.
call() {
  local i out name t names=() times=()
  for ((i = 0; i < CALLS; i++)); do
    out=$(kc east exec client -- curl -s --max-time 2 -w ' %{time_total}' "http://$1:8080/hostname" 2>/dev/null) || out="none 2"
    read -r name t <<<"$out"
    names+=("${name:-none}")
    times+=("${t:-2}")
  done
  ANSWERS=$(printf '%s\n' "${names[@]}" | sort | uniq -c | awk '{ printf "%s%s:%s", sep, $2, $1; sep = " " }')
  WEST_SHARE=$(ratio "$(printf '%s\n' "${names[@]}" | grep -cx echo-west || true)" "$CALLS")
  P50_MS=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }')
}
west_echo_ip() { kc west get pod echo-west -o jsonpath='{.status.podIP}'; }

lab_break() {
  create "$EAST" kind-multi-east.yaml
  create "$WEST" kind-multi-west-overlap.yaml
  workloads east
  workloads west
  routes
  say "east pods $(pod_cidr east), west pods $(pod_cidr west): west's echo at $(west_echo_ip)"
}

lab_observe() {
  local e w overlap
  e=$(pod_cidr east)
  w=$(pod_cidr west)
  overlap=$(awk -v a="$e" -v b="$w" 'BEGIN { split(a, x, "/"); split(b, y, "/"); split(x[1], p, "."); split(y[1], q, ".");
    print (p[1] == q[1] && p[2] == q[2]) ? "yes" : "no" }')
  check 'pod ranges of east and west overlap' 'yes (the cause)' "${e} / ${w}: ${overlap}" "$(is "$overlap" yes)"
  call "$(west_echo_ip)"
  check "east -> west echo ($(west_echo_ip)) answered by west" '<= 10%' "${WEST_SHARE} (${ANSWERS})" "$(le "$WEST_SHARE" 0.1)"
}

lab_fix() {
  say "rebuilding ${WEST} with its own pod and Service ranges (k8s/kind-multi-west.yaml)"
  kind delete cluster --name "$WEST"
  create "$WEST" kind-multi-west.yaml
  workloads west
  routes
  # The regions' distance (incident scenario 9): netem on west's node delays everything it sends.
  docker exec "${WEST}-control-plane" tc qdisc replace dev eth0 root netem delay "${CROSS_DELAY_MS}ms"
}

lab_verify() {
  local local_ip local_p50 cost
  call "$(west_echo_ip)"
  check "east -> west echo ($(west_echo_ip)) answered by west" '>= 90%' "${WEST_SHARE} (${ANSWERS})" "$(ge "$WEST_SHARE" 0.9)"
  local cross=$P50_MS
  local_ip=$(kc east get pod echo-east -o jsonpath='{.status.podIP}')
  call "$local_ip"
  local_p50=$P50_MS
  cost=$(awk -v c="$cross" -v l="$local_p50" 'BEGIN { printf "%.1f", c - l }')
  check 'cross-cluster p50 - in-cluster p50' ">= ${CROSS_DELAY_MS} ms (the netem delay, seen)" "${cost} ms (${cross} vs ${local_p50})" \
    "$(ge "$cost" "$CROSS_DELAY_MS")"
  check 'cross-cluster p50' "<= $((CROSS_DELAY_MS * 4)) ms (one hop, no retries or re-resolution)" "${cross} ms" "$(le "$cross" $((CROSS_DELAY_MS * 4)))"
}

lab_reset() {
  kind delete cluster --name "$WEST"
  kind delete cluster --name "$EAST"
}
