#!/usr/bin/env bash
# Property-based check of the REST edge against its published contract, services/gateway/openapi.yaml, and nothing
# else: schemathesis generates valid and invalid requests from the document and fails when an answer is not one the
# document allows (status code, content type, headers, body schema, an invalid request accepted, a valid one refused).
#
#   scripts/contract-fuzz.sh                      start a platform of our own (own state dir and ports), fuzz it, stop it
#   scripts/contract-fuzz.sh http://127.0.0.1:8080  fuzz a platform that is already running
#
# Environment: SCHEMATHESIS (the `st` binary; default `st` on PATH, else ~/.cache/schemathesis/bin/st; install it
# OUTSIDE the repository: python3 -m venv ~/.cache/schemathesis && ~/.cache/schemathesis/bin/pip install schemathesis),
# FUZZ_TOKEN (an access token sent as `Authorization: Bearer` on every request; unset: one for the demo customer
# alice from the platform's issuer, `npm run token -- alice`), FUZZ_MAX_EXAMPLES (per operation, default 60; generation is deterministic, so two runs send the same requests),
# FUZZ_PG_PORT / FUZZ_KAFKA_PORT / FUZZ_PORT_OFFSET for the platform this script starts (57220 / 57230 / 10700:
# the gateway then listens on 18780). Exit status: schemathesis's (non-zero on any finding), 2 on a setup failure.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
st=${SCHEMATHESIS:-$(command -v st || echo "$HOME/.cache/schemathesis/bin/st")}
if [[ ! -x $st ]]; then
  echo "contract-fuzz: schemathesis not found; set SCHEMATHESIS to its st binary" >&2
  exit 2
fi
max_examples=${FUZZ_MAX_EXAMPLES:-60}
spec=$root/services/gateway/openapi.yaml

platform_pid=
stop_platform() {
  if [[ -n $platform_pid ]] && kill -0 "$platform_pid" 2>/dev/null; then
    kill -TERM "$platform_pid"
    # The launcher drains the services and stops PostgreSQL and Kafka; give it a bounded time.
    for _ in $(seq 1 60); do kill -0 "$platform_pid" 2>/dev/null || break; sleep 1; done
  fi
}
trap stop_platform EXIT

if [[ $# -ge 1 ]]; then
  base=$1
else
  offset=${FUZZ_PORT_OFFSET:-10700}
  base=http://127.0.0.1:$((8080 + offset))
  log=$root/.local/contract-fuzz-run/platform.log
  mkdir -p "$root/.local/contract-fuzz-run"
  echo "contract-fuzz: starting a platform at $base (log: $log)"
  # The project's own Node 24 (installed by npm ci), as `npm start` uses it.
  node=$root/node_modules/.bin/node
  [[ -x $node ]] || node=node
  "$node" "$root/scripts/platform.mjs" start --name contract-fuzz \
    --pg-port "${FUZZ_PG_PORT:-57220}" --kafka-port "${FUZZ_KAFKA_PORT:-57230}" --port-offset "$offset" \
    >"$log" 2>&1 &
  platform_pid=$!
  ready=
  for _ in $(seq 1 240); do
    if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then
      ready=1
      break
    fi
    kill -0 "$platform_pid" 2>/dev/null || break
    sleep 1
  done
  if [[ -z $ready ]]; then
    echo "contract-fuzz: the platform did not become ready within 240 s; see $log" >&2
    exit 2
  fi
fi

# The operations endpoints (/livez, /readyz, /metrics, /openapi.yaml) are documented without response schemas; the
# API under /v1 is what clients are promised. contract-fuzz.toml says which refusals of schema-valid requests the
# document explains in words (and why). schemathesis keeps its cache (`st replay <id>`) in the working directory:
# .local/contract-fuzz-run (beside the platform's state in .local/contract-fuzz), which git and prettier skip.
# One worker: the machine may be shared, and orders are real sagas.
# Every /v1 operation but the catalogue needs an access token: schemathesis sends the one given on every request
# (its ignored_auth check also sends none and a wrong one, which must be 401).
token=${FUZZ_TOKEN:-}
if [[ -z $token ]]; then
  issuer=${FUZZ_ISSUER:-http://127.0.0.1:$((8090 + ${offset:-0}))}
  token=$(cd "$root" && npm run --silent token -- alice --issuer "$issuer") || {
    echo "contract-fuzz: could not get a token from the issuer at $issuer; set FUZZ_TOKEN" >&2
    exit 2
  }
fi
mkdir -p "$root/.local/contract-fuzz-run"
cd "$root/.local/contract-fuzz-run"
"$st" --config-file "$root/scripts/contract-fuzz.toml" run "$spec" --url "$base" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --include-path-regex '^/v1/' \
  --max-examples "$max_examples" \
  --workers 1 \
  --request-timeout 10 \
  --generation-deterministic \
  --no-color
