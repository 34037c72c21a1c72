#!/usr/bin/env bash
# test_mockllm.sh - chim-mockllm's latency follows the requested lognormal
# (median and P95 within tolerance, measured by chim-load at a rate that
# does not queue), --error-rate 1 fails every call with 500, and --stream
# sends a chunked response that chim-demo decodes.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl not installed"

start chim-mockllm --median-ms 30 --p95-ms 60 --seed 7
# 40 users x 5 req/s for 3 s = 600 samples; each user waits 200 ms between
# requests, so almost nothing queues and latency is the provider's.
"$BIN/chim-load" --target http://127.0.0.1:$PORT --scenario llm --users 40 --rate 5 \
    --duration 3 --format json >$TMP/l.json || fail "chim-load failed"
p50=$(jget $TMP/l.json overall.p50_ms) p95=$(jget $TMP/l.json overall.p95_ms)
check 'python3 -c "import sys; sys.exit(not (25 <= $p50 <= 36))"' "median $p50 ms, wanted 30 +- 17%"
check 'python3 -c "import sys; sys.exit(not (45 <= $p95 <= 80))"' "P95 $p95 ms, wanted about 60"
check '[ "$(jget $TMP/l.json errors)" = 0 ]' "errors at error rate 0: $(cat $TMP/l.json)"
echo "mock latency: median $p50 ms (30), P95 $p95 ms (60)"

start chim-mockllm --median-ms 1 --p95-ms 2 --error-rate 1
"$BIN/chim-load" --target http://127.0.0.1:$PORT --scenario llm --users 2 --rate 20 \
    --duration 0.5 --format json >$TMP/e.json || fail "chim-load failed"
check '[ "$(jget $TMP/e.json status_errors)" = "$(jget $TMP/e.json completed)" ]' \
    "error rate 1: $(cat $TMP/e.json)"

start chim-mockllm --median-ms 5 --p95-ms 10 --stream --chunks 4
MOCK=$PORT
curl -s --raw -D $TMP/h -o $TMP/raw -XPOST -d '{"prompt":"stream me"}' http://127.0.0.1:$MOCK/v1/completions
check 'grep -qi "^Transfer-Encoding: chunked" $TMP/h' "stream is not chunked"
check '[ "$(grep -c $'"'"'^[0-9a-f]*\r$'"'"' $TMP/raw)" -ge 5 ]' "fewer than 4 chunks + terminator"
start chim-demo --llm 127.0.0.1:$MOCK
curl -s -o $TMP/g.json -XPOST -d '{"prompt":"stream me"}' http://127.0.0.1:$PORT/api/v1/generate
check '[ "$(jget $TMP/g.json completion)" = "Completion for: stream me" ]' \
    "demo did not decode the chunked answer: $(cat $TMP/g.json)"

for p in "${PIDS[@]}"; do stop "$p"; done
PIDS=()
echo "PASS: mock LLM"
