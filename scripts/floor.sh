#!/usr/bin/env bash
# The kernel's share of a broadcast on this machine (see scripts/floor/):
# sender pinned to core 0, receiver to core 1, loopback only, stops itself.
# Usage: scripts/floor.sh [write|uring] [connections] [passes per second]
#        scripts/floor.sh connect [connections]   (opening them all at once)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-uring} n=${2:-10000} rate=${3:-2}
bin=$(mktemp -d)/floor
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./scripts/floor
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=$mode client=client
if [[ $mode == connect ]]; then server=accept client=connect; fi
taskset -c 0 "$bin" -mode "$server" -n "$n" -rate "$rate" -addr "127.0.0.1:$port" &
sender=$!
taskset -c 1 "$bin" -mode "$client" -n "$n" -addr "127.0.0.1:$port" &
wait $sender
wait
