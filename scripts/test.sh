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
# Fuzz budgets are counts, not durations: with a duration Go's fuzz
# coordinator can race its own deadline and fail with a bare "context
# deadline exceeded" (golang/go#75804) when a worker is still busy, e.g.
# minimizing a new input. A count has no deadline to race.
FUZZTIME=${FUZZTIME:-20000x}

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
fuzz() { go test -run '^$' -fuzz "^$1\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$2"; }
fuzz FuzzDecodeCursor .
fuzz FuzzDecodeMessage .
fuzz FuzzDecodeFrame ./httpapi/
fuzz FuzzSubscriber ./auth/
fuzz FuzzIframeOrigin ./httpapi/
fuzz FuzzScanUnit ./bench/
fuzz FuzzReddotTopic ./mqttbridge/
fuzz FuzzEventData ./mqttbridge/

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
