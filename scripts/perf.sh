#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md: a fresh `reddot serve`
# pinned to core 0 and `reddot bench` pinned to core 1, on loopback only.
# Usage: scripts/perf.sh TRANSPORT N EVENTS RATE [extra bench flags...]
# SERVER_FLAGS adds flags to the server (e.g. --io-uring=false).
# Prints the bench's JSON summary line. Stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
transport=$1 n=$2 events=$3 rate=$4; shift 4
bin=${REDDOT_BIN:-$(mktemp -d)/reddot}
[[ -x $bin ]] || go build -o "$bin" ./cmd/reddot
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=perf-secret-0123456789 key=perf-key-0123456789
taskset -c 0 "$bin" serve --http-addr 127.0.0.1:$port --mqtt-addr off --data-dir "$dir" \
  --jwt-secret $secret --api-keys $key --allowed-origins http://localhost --log-level warn ${SERVER_FLAGS:-} >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
taskset -c 1 "$bin" bench --url "http://127.0.0.1:$port" --jwt-secret $secret --api-key $key \
  --transport "$transport" -n "$n" --events "$events" --rate "$rate" --server-pid $pid "$@" 2>/dev/null
