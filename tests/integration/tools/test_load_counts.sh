#!/usr/bin/env bash
# test_load_counts.sh - the load generator's counts agree with what the
# server served (GET /stats); the PERF_* variables set users, rate and
# duration and flags beat them; a malformed variable is named; an absent
# target gets the one-line message and exit 2; `chimcollect load` is the
# same program; the llm scenario's repeated prompts make the cache hit.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl not installed"

start chim-mockllm --median-ms 2 --p95-ms 5
MOCK=$PORT
start chim-demo --llm 127.0.0.1:$MOCK --threads 4
URL=http://127.0.0.1:$PORT
served() { curl -s -o $TMP/s.json $URL/stats && jget $TMP/s.json requests; }

# Open loop, api mix, from the environment: 8 users x 25 req/s x 2 s = 400.
before=$(served)
PERF_CONCURRENT_USERS=8 PERF_REQUEST_RATE=25 PERF_TEST_DURATION=2 \
    "$BIN/chim-load" --target $URL --scenario api --format json >$TMP/a.json || fail "chim-load failed"
after=$(served)
sent=$(jget $TMP/a.json sent) done_=$(jget $TMP/a.json completed)
check '[ "$(jget $TMP/a.json users)" = 8 ] && [ "$sent" = 400 ]' "env not applied: $(cat $TMP/a.json)"
check '[ "$done_" = "$sent" ] && [ "$(jget $TMP/a.json errors)" = 0 ]' "sent/completed/errors: $(cat $TMP/a.json)"
check '[ $((after - before)) = "$done_" ]' "server served $((after - before)), chim-load completed $done_"
check '[ "$(jget $TMP/a.json routes.0.route)" = "GET /health" ]' "api routes: $(cat $TMP/a.json)"
echo "counts: chim-load completed $done_, server served $((after - before))"

# Flags beat the environment; chimcollect load is the same generator; closed loop.
before=$(served)
PERF_CONCURRENT_USERS=1000 "$BIN/chimcollect" load --target $URL --scenario llm --users 4 \
    --closed --duration 1 --format json >$TMP/c.json || fail "chimcollect load failed"
after=$(served)
check '[ "$(jget $TMP/c.json users)" = 4 ] && [ "$(jget $TMP/c.json mode)" = closed ]' \
    "flags did not beat env: $(cat $TMP/c.json)"
check '[ $((after - before)) = "$(jget $TMP/c.json completed)" ]' \
    "closed loop: served $((after - before)) vs $(jget $TMP/c.json completed)"
hits=$(jget $TMP/c.json overall.cache_hits) misses=$(jget $TMP/c.json overall.cache_misses)
check '[ $((hits * 100)) -ge $(((hits + misses) * 80)) ]' "cache hit ratio $hits/$((hits + misses)) below 80%"

# Text summary has the per-route table.
"$BIN/chim-load" --target $URL --scenario api --users 2 --rate 10 --duration 0.5 >$TMP/t.txt
for want in "GET /health" "POST /api/v1/transform" "POST /api/v1/generate" "^  all"; do
    check 'grep -q "$want" $TMP/t.txt' "text summary lacks '$want'"
done

# Errors: a malformed variable, an absent target.
PERF_REQUEST_RATE=fast "$BIN/chim-load" --target $URL 2>$TMP/err
rc=$?
check '[ $rc = 2 ] && grep -q "PERF_REQUEST_RATE" $TMP/err' "malformed env: $(cat $TMP/err)"
dead=$(free_port)
"$BIN/chimcollect" load --target http://127.0.0.1:$dead --duration 1 >$TMP/out 2>$TMP/err
rc=$?
want="chimcollect load: cannot connect to 127.0.0.1:$dead: Connection refused (ensure backend services are running on port $dead)"
check '[ $rc = 2 ] && [ "$(cat $TMP/err)" = "$want" ] && [ ! -s $TMP/out ]' \
    "absent target: rc $rc, '$(cat $TMP/err)'"

for p in "${PIDS[@]}"; do stop "$p"; done
PIDS=()
echo "PASS: load counts"
