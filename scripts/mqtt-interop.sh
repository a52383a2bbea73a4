#!/usr/bin/env bash
# Interop of reddot's embedded MQTT broker with Debian's mosquitto-clients:
# builds reddot, starts `reddot serve` on free loopback ports with a temp
# data dir, and checks delivery, access refusals (3.1.1 and 5) and a
# persistent session with mosquitto_sub/mosquitto_pub. Stops only the
# server it started; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mosquitto_sub >/dev/null || ! command -v mosquitto_pub >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto-clients >/dev/null
  else
    echo "mqtt-interop: mosquitto-clients missing: apt-get install -y mosquitto-clients" >&2
    exit 1
  fi
fi

tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "mqtt-interop: FAIL: $*" >&2
  echo "--- server log (last 30 lines)" >&2
  tail -n 30 "$tmp/server.log" >&2 || true
  exit 1
}
pass() { echo "mqtt-interop: ok: $*"; }

go build -o "$tmp/reddot" ./cmd/reddot
bin=$tmp/reddot
data=$tmp/data

# start_server: starts reddot on free loopback ports, sets pid, url, host, port
start_server() {
  : >"$tmp/server.out"
  "$bin" serve --data-dir "$data" --http-addr 127.0.0.1:0 --mqtt-addr 127.0.0.1:0 \
    >"$tmp/server.out" 2>>"$tmp/server.log" &
  pid=$!
  for _ in $(seq 100); do
    grep -q '^reddot is up' "$tmp/server.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "server exited at start"
    sleep 0.1
  done
  grep -q '^reddot is up' "$tmp/server.out" || fail "server did not come up"
  url=$(sed -n 's/^reddot is up: //p' "$tmp/server.out")
  mqtt=$(grep -o 'mqtt://[^ ]*' "$tmp/server.out" | head -n1)
  mqtt=${mqtt#mqtt://}
  host=${mqtt%:*}
  port=${mqtt##*:}
  [[ -n $url && -n $port ]] || fail "cannot read the addresses from: $(cat "$tmp/server.out")"
  sub=(stdbuf -oL mosquitto_sub -h "$host" -p "$port")
  pub=(mosquitto_pub -h "$host" -p "$port")
  echo "mqtt-interop: server $url, MQTT $host:$port"
}

# stop_server: SIGTERM to our own server only, and wait for it
stop_server() {
  kill "$pid"
  wait "$pid" || fail "server exited with $? on SIGTERM"
  pid=
}

start_server
tok42=$("$bin" token --data-dir "$data" --user 42 --publish news --ttl 10m)
tok7=$("$bin" token --data-dir "$data" --user 7 --ttl 10m)
# wait_for FILE PATTERN: until PATTERN is in FILE (10 s)
wait_for() {
  for _ in $(seq 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# 1. Delivery: HTTP publish, a granted MQTT publish and an inbox notification
#    reach mosquitto_sub (3.1.1) as event JSON.
"${sub[@]}" -V mqttv311 -u 42 -P "$tok42" -q 1 -i interop-live -d -v -C 3 -W 20 \
  -t reddot/topics/news -t reddot/users/42/inbox >"$tmp/sub1.out" 2>&1 &
sub1=$!
wait_for "$tmp/sub1.out" 'received SUBACK' || fail "mosquitto_sub did not subscribe: $(cat "$tmp/sub1.out")"
"$bin" publish --data-dir "$data" --url "$url" --topic news --data '{"n":1}' >/dev/null
"${pub[@]}" -V mqttv311 -u 42 -P "$tok42" -q 1 -t reddot/topics/news -m '{"n":2}' ||
  fail "mosquitto_pub with a publish grant failed"
"$bin" publish --data-dir "$data" --url "$url" --users 42 --title "hello from interop" >/dev/null
wait "$sub1" || fail "mosquitto_sub did not get 3 messages: $(cat "$tmp/sub1.out")"
grep -q '^reddot/topics/news {"id":"[^"]*","topic":"news","seq":1,"event":"message","data":{"n":1}' "$tmp/sub1.out" ||
  fail "HTTP publish not delivered: $(cat "$tmp/sub1.out")"
grep -q '^reddot/topics/news {"id":"[^"]*","topic":"news","seq":2,"event":"message","data":{"n":2}.*"cursor":"' "$tmp/sub1.out" ||
  fail "MQTT publish not delivered: $(cat "$tmp/sub1.out")"
grep -q '^reddot/users/42/inbox {.*"event":"notification".*"title":"hello from interop"' "$tmp/sub1.out" ||
  fail "inbox notification not delivered: $(cat "$tmp/sub1.out")"
pass "HTTP publish, MQTT publish and inbox notification delivered to mosquitto_sub"

# 2. Refusals. A bad token cannot connect.
if "${sub[@]}" -u 42 -P not-a-token -t reddot/topics/news -C 1 -W 5 >"$tmp/bad.out" 2>&1; then
  fail "a bad token connected"
fi
grep -qi 'bad user name or password\|not authori' "$tmp/bad.out" || fail "bad token: $(cat "$tmp/bad.out")"
pass "bad token refused: $(head -n1 "$tmp/bad.out")"

# Another user's inbox and inbox wildcards are refused (MQTT 5: SUBACK 0x87).
"${sub[@]}" -V mqttv5 -u 42 -P "$tok42" -t reddot/users/7/inbox -t 'reddot/users/+/inbox' -E >"$tmp/acl.out" 2>&1 || true
grep -qi 'All subscription requests were denied' "$tmp/acl.out" || fail "inbox refusal: $(cat "$tmp/acl.out")"
pass "other inbox and wildcard refused: $(head -n1 "$tmp/acl.out")"

# Publishing without a grant: MQTT 5 PUBACK 0x87, and nobody receives it.
"${sub[@]}" -V mqttv5 -u 7 -P "$tok7" -q 1 -t reddot/topics/secret -d -C 1 -W 15 >"$tmp/sub2.out" 2>&1 &
sub2=$!
wait_for "$tmp/sub2.out" 'received SUBACK' || fail "mosquitto_sub did not subscribe: $(cat "$tmp/sub2.out")"
"${pub[@]}" -V mqttv5 -u 7 -P "$tok7" -q 1 -t reddot/topics/secret -m '{"evil":true}' -d >"$tmp/pub2.out" 2>&1 || true
grep -qi 'not authori\|0x87\|reason code: 135' "$tmp/pub2.out" || fail "publish without grant was not refused: $(cat "$tmp/pub2.out")"
"$bin" publish --data-dir "$data" --url "$url" --topic secret --data '"barrier"' >/dev/null
wait "$sub2" || fail "no barrier: $(cat "$tmp/sub2.out")"
grep -q '"evil"' "$tmp/sub2.out" && fail "the refused publish was delivered: $(cat "$tmp/sub2.out")"
grep -q '"seq":1,"event":"message","data":"barrier"' "$tmp/sub2.out" || fail "barrier: $(cat "$tmp/sub2.out")"
pass "publish without grant refused ($(grep -io 'not authori[sz]ed' "$tmp/pub2.out" | head -n1)) and delivered to nobody"

# 3. A persistent QoS 1 session gets, when back, what was published while
#    it was away: 3.1.1 (-c) and 5 (session expiry).
for v in mqttv311 mqttv5; do
  id="interop-$v"
  "${sub[@]}" -V "$v" -u 42 -P "$tok42" -c -i "$id" -q 1 -t reddot/topics/offline-$v -E ||
    fail "$v: persistent subscribe failed"
  for i in 1 2 3 4 5; do
    "$bin" publish --data-dir "$data" --url "$url" --topic "offline-$v" --data "$i" >/dev/null
  done
  "${sub[@]}" -V "$v" -u 42 -P "$tok42" -c -i "$id" -q 1 -t reddot/topics/offline-$v -C 5 -W 15 >"$tmp/off.out" 2>&1 ||
    fail "$v: offline messages not delivered: $(cat "$tmp/off.out")"
  seqs=$(grep -o '"seq":[0-9]*' "$tmp/off.out" | tr -d '"seq:' | tr '\n' ' ')
  [[ $seqs == "1 2 3 4 5 " ]] || fail "$v: want seq 1..5 in order, got: $seqs"
  pass "$v persistent session got the 5 messages published while offline"
done

# 4. ... and across a restart of reddot (SIGTERM, start again on the same data dir).
"${sub[@]}" -V mqttv311 -u 42 -P "$tok42" -c -i interop-restart -q 1 -t reddot/topics/restart -E ||
  fail "persistent subscribe failed"
"$bin" publish --data-dir "$data" --url "$url" --topic restart --data 1 >/dev/null
"$bin" publish --data-dir "$data" --url "$url" --topic restart --data 2 >/dev/null
stop_server
start_server
for i in 3 4 5; do
  "$bin" publish --data-dir "$data" --url "$url" --topic restart --data "$i" >/dev/null
done
"${sub[@]}" -V mqttv311 -u 42 -P "$tok42" -c -i interop-restart -q 1 -t reddot/topics/restart -C 5 -W 15 >"$tmp/restart.out" 2>&1 ||
  fail "after restart: $(cat "$tmp/restart.out")"
seqs=$(grep -o '"seq":[0-9]*' "$tmp/restart.out" | tr -d '"seq:' | tr '\n' ' ')
[[ $seqs == "1 2 3 4 5 " ]] || fail "after restart: want seq 1..5 in order, got: $seqs"
pass "persistent session got the 5 messages published around a restart"

stop_server
echo "mqtt-interop: all passed"
