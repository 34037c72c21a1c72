#!/usr/bin/env bash
# test_demo_routes.sh - chim-demo answers every route correctly: health,
# transform, batch, generate with X-Cache MISS then HIT, 404/405/400, a
# malformed request line, keep-alive reuse, /stats counters, the leaking
# route, 500 when the LLM provider is down, clean exit on SIGTERM.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl not installed"

start chim-mockllm --median-ms 2 --p95-ms 4
MOCK=$PORT MOCKPID=$LASTPID
start chim-demo --llm 127.0.0.1:$MOCK --leak-route /api/v1/transform --leak-bytes 1000
URL=http://127.0.0.1:$PORT DEMOPID=$LASTPID

body=$(curl -s -w ' %{http_code}' $URL/health)
check '[ "$body" = "{\"status\":\"ok\"} 200" ]' "GET /health: '$body'"

curl -s -o $TMP/t.json -w '%{http_code}' -XPOST --data-binary 'Hello World' $URL/api/v1/transform >$TMP/code
check '[ "$(cat $TMP/code)" = 200 ] && [ "$(jget $TMP/t.json length)" = 11 ]' "transform: $(cat $TMP/t.json)"

printf 'one\ntwo\nthree\nfour\n' >$TMP/batch
curl -s -o $TMP/b.json -XPOST --data-binary @$TMP/batch "$URL/api/v1/transform/batch?threads=2"
check '[ "$(jget $TMP/b.json items)" = 4 ] && [ "$(jget $TMP/b.json threads)" = 2 ]' "batch: $(cat $TMP/b.json)"

gen() { curl -s -D $TMP/h -o $TMP/g.json -XPOST -d "{\"prompt\":\"$1\"}" $URL/api/v1/generate; }
gen "what is chimera"
check 'grep -q "^X-Cache: MISS" $TMP/h && grep -q "^HTTP/1.1 200" $TMP/h' "first generate not a 200 MISS"
check '[ "$(jget $TMP/g.json completion)" = "Completion for: what is chimera" ]' "completion: $(cat $TMP/g.json)"
gen "what is chimera"
check 'grep -q "^X-Cache: HIT" $TMP/h' "repeated prompt is not X-Cache: HIT"

check '[ "$(curl -s -o /dev/null -w %{http_code} $URL/nope)" = 404 ]' "unknown path is not 404"
check '[ "$(curl -s -o /dev/null -w %{http_code} $URL/api/v1/transform)" = 405 ]' "GET transform is not 405"
check '[ "$(curl -s -o /dev/null -w %{http_code} -XPOST -d nojson $URL/api/v1/generate)" = 400 ]' \
    "generate without a prompt is not 400"

exec 3<>/dev/tcp/127.0.0.1/$PORT
printf 'GARBAGE\r\n\r\n' >&3
read -r line <&3
exec 3<&-
check '[ "${line%$'"'"'\r'"'"'}" = "HTTP/1.1 400 Bad Request" ]' "malformed request line got '$line'"

conns=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' $URL/health $URL/health)
check '[ "$conns" = "1 0 " ]' "keep-alive not reused (connects per transfer: $conns)"

curl -s -o $TMP/s.json $URL/stats
# health x3, transform, batch, generate x3, nope, GET transform, malformed is not counted
check '[ "$(jget $TMP/s.json health)" = 3 ] && [ "$(jget $TMP/s.json generate)" = 3 ]' \
    "stats: $(cat $TMP/s.json)"
check '[ "$(jget $TMP/s.json cache_hits)" = 1 ] && [ "$(jget $TMP/s.json cache_misses)" = 1 ]' \
    "stats cache: $(cat $TMP/s.json)"
# every request to the leaking path leaks: the POST and the GET (405)
check '[ "$(jget $TMP/s.json leaked_bytes)" = 2000 ]' "leak: $(cat $TMP/s.json)"

# The provider goes away: a miss is a 500, a hit still answers.
stop $MOCKPID
check '[ "$(curl -s -o /dev/null -w %{http_code} -XPOST -d "{\"prompt\":\"new\"}" $URL/api/v1/generate)" = 500 ]' \
    "generate with the LLM down is not 500"
gen "what is chimera"
check 'grep -q "^X-Cache: HIT" $TMP/h' "cached answer lost when the LLM is down"

stop $DEMOPID
echo "PASS: demo routes"
