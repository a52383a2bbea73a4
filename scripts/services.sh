#!/usr/bin/env bash
# Makes sure the services the integration tests use are up on loopback,
# starting any that is installed but stopped. With CI=true a service that
# cannot be reached is an error; elsewhere the tests skip with one line.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local name=$1 port=$2; shift 2
  up "$port" && return 0
  echo "starting $name"
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 50); do up "$port" && return 0; sleep 0.2; done
  return 1
}

missing=()
start postgres 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || missing+=(postgres)
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /tmp || missing+=(redis)
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server || missing+=(nats)

if ((${#missing[@]})); then
  if [[ ${CI:-} == true ]]; then
    echo "services unreachable: ${missing[*]}" >&2
    exit 1
  fi
  echo "services unreachable (their tests will skip): ${missing[*]}"
fi
exit 0
