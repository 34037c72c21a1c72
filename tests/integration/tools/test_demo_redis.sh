#!/usr/bin/env bash
# test_demo_redis.sh - with --redis, chim-demo's response cache is a real
# Redis spoken to in RESP: a repeated prompt is X-Cache: HIT, the key is in
# Redis with its 300 s expiry, and the llm scenario's hit ratio is high.
. "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || skip "redis-server not installed"
command -v redis-cli >/dev/null || skip "redis-cli not installed"

RPORT=$(free_port)
redis-server --bind 127.0.0.1 --port $RPORT --save '' --appendonly no >$TMP/redis.out 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
    redis-cli -p $RPORT ping >/dev/null 2>&1 && break
    sleep 0.1
done
start chim-mockllm --median-ms 2 --p95-ms 5
MOCK=$PORT
start chim-demo --llm 127.0.0.1:$MOCK --redis 127.0.0.1:$RPORT
URL=http://127.0.0.1:$PORT

for want in MISS HIT; do
    curl -s -D $TMP/h -o /dev/null -XPOST -d '{"prompt":"redis prompt"}' $URL/api/v1/generate
    check 'grep -q "^X-Cache: $want" $TMP/h' "expected X-Cache: $want"
done
ttl=$(redis-cli -p $RPORT ttl "chim:gen:redis prompt")
check '[ "$ttl" -gt 290 ] && [ "$ttl" -le 300 ]' "key TTL $ttl, wanted 300"

"$BIN/chim-load" --target $URL --scenario llm --users 4 --rate 25 --duration 2 --repeat-share 1 --format json \
    >$TMP/l.json || fail "chim-load failed"
hits=$(jget $TMP/l.json overall.cache_hits) n=$(jget $TMP/l.json completed)
check '[ $((hits * 100)) -ge $((n * 75)) ] && [ "$(jget $TMP/l.json errors)" = 0 ]' \
    "redis cache: $hits hits of $n: $(cat $TMP/l.json)"

dead=$(free_port)
"$BIN/chim-demo" --listen 127.0.0.1:0 --redis 127.0.0.1:$dead >/dev/null 2>$TMP/err
rc=$?
check '[ $rc = 2 ] && grep -q "cannot connect to redis" $TMP/err' "absent redis: rc $rc $(cat $TMP/err)"
for p in "${PIDS[@]}"; do stop "$p"; done
PIDS=()
echo "PASS: demo with redis ($hits hits of $n)"
