#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing,
# then runs vet, the race-enabled Go tests, short fuzzing, the script tests
# and the browser tests. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export REDDOT_TEST_POSTGRES=${REDDOT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
export REDDOT_TEST_REDIS=${REDDOT_TEST_REDIS:-redis://127.0.0.1:6379/0}
export REDDOT_TEST_NATS=${REDDOT_TEST_NATS:-nats://127.0.0.1:4222}
FUZZTIME=${FUZZTIME:-10s}

step() { printf '\n==> %s\n' "$*"; }

step "services"
bash scripts/services.sh

step "tools"
need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v mosquitto_sub >/dev/null || need_apt+=(mosquitto-clients)
if ((${#need_apt[@]})); then
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]}: install them (apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi
if [[ -f browsertest/package.json && ! -d browsertest/node_modules/playwright-core ]]; then
  (cd browsertest && npm ci --no-audit --no-fund)
fi

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...

step "go test -race"
go test -race -count=1 -timeout 20m ./...

step "fuzz ($FUZZTIME each)"
go test -run '^$' -fuzz '^FuzzDecodeCursor$' -fuzztime "$FUZZTIME" .
go test -run '^$' -fuzz '^FuzzDecodeMessage$' -fuzztime "$FUZZTIME" .
go test -run '^$' -fuzz '^FuzzDecodeFrame$' -fuzztime "$FUZZTIME" ./httpapi/
go test -run '^$' -fuzz '^FuzzSubscriber$' -fuzztime "$FUZZTIME" ./auth/
go test -run '^$' -fuzz '^FuzzIframeOrigin$' -fuzztime "$FUZZTIME" ./httpapi/
go test -run '^$' -fuzz '^FuzzScanUnit$' -fuzztime "$FUZZTIME" ./bench/
go test -run '^$' -fuzz '^FuzzReddotTopic$' -fuzztime "$FUZZTIME" ./mqttbridge/
go test -run '^$' -fuzz '^FuzzEventData$' -fuzztime "$FUZZTIME" ./mqttbridge/

for s in scripts/mqtt-interop.sh scripts/bench-smoke.sh; do
  if [[ -f $s ]]; then step "$s"; bash "$s"; fi
done

if [[ -d browsertest ]] && ls browsertest/*.test.mjs >/dev/null 2>&1; then
  step "browser tests"
  (cd browsertest && node --test --test-concurrency=1 *.test.mjs)
fi
if ls web/sdk/test/*.test.mjs >/dev/null 2>&1; then
  step "SDK unit tests"
  node --test web/sdk/test/
fi
step "all tests passed"
