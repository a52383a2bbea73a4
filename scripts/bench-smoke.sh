#!/usr/bin/env bash
# Smoke test of `reddot bench`: a correctness check, not a timing check.
# Builds reddot, starts `reddot serve` on a free loopback port with a temp
# data dir, runs 500 subscribers × 20 events over WebSocket and then SSE,
# and fails on any failed connection or lost or duplicated delivery.
# Only the server this script started is stopped, by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS=${SUBSCRIBERS:-500}
EVENTS=${EVENTS:-20}
TRANSPORTS=${TRANSPORTS:-ws sse}

work=$(mktemp -d "${TMPDIR:-/tmp}/reddot-bench-smoke.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building reddot"
go build -o "$work/reddot" ./cmd/reddot

secret=smoke-secret-$RANDOM$RANDOM
key=smoke-key-$RANDOM$RANDOM
mkfifo "$work/out"
"$work/reddot" serve --http-addr 127.0.0.1:0 --mqtt-addr off --data-dir "$work/data" \
  --jwt-secret "$secret" --api-keys "$key" --log-level warn >"$work/out" 2>"$work/serve.log" &
server_pid=$!

# The server prints "reddot is up: http://localhost:PORT" once it listens.
url=""
exec 3<"$work/out"
while IFS= read -r -t 30 line <&3; do
  if [[ $line == "reddot is up: "* ]]; then url=${line#reddot is up: }; break; fi
done
if [[ -z $url ]]; then
  echo "bench-smoke: the server did not come up" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
cat <&3 >/dev/null &  # keep draining the server's stdout
echo "server $server_pid at $url"

status=0
for transport in $TRANSPORTS; do
  echo "bench: $transport, $SUBSCRIBERS subscribers × $EVENTS events"
  if ! "$work/reddot" bench --url "$url" --jwt-secret "$secret" --api-key "$key" \
      --transport "$transport" --subscribers "$SUBSCRIBERS" --events "$EVENTS" --rate 20 \
      --server-pid "$server_pid" --settle 0 --duration 2m --progress 0 >"$work/$transport.json"; then
    status=1
  fi
  cat "$work/$transport.json"
  # Belt and braces: the exit code already covers these.
  if ! grep -q '"ok":true' "$work/$transport.json"; then
    echo "bench-smoke: $transport run lost, duplicated or failed deliveries" >&2
    status=1
  fi
done

if ((status)); then
  echo "bench-smoke: FAILED" >&2
  tail -20 "$work/serve.log" >&2
  exit 1
fi
echo "bench-smoke: ok"
