#!/usr/bin/env bash
# test_load_vs_wrk.sh - chim-load's closed-loop maximum is in the same range
# as wrk's against the same chim-demo (GET /health, same connection count,
# 3 s each), and its open-loop mode holds the requested rate.
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || skip "wrk not installed"

start chim-demo --threads 4
URL=http://127.0.0.1:$PORT

"$BIN/chim-load" --target $URL --scenario health --closed --users 32 --duration 3 \
    --format json >$TMP/c.json || fail "chim-load failed"
ours=$(jget $TMP/c.json rps)
wrk -t1 -c32 -d3s $URL/health >$TMP/wrk.txt || fail "wrk failed"
theirs=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' $TMP/wrk.txt)
echo "closed-loop max: chim-load $ours req/s, wrk $theirs req/s"
check '[ -n "$theirs" ]' "no Requests/sec in wrk output"
check 'python3 -c "import sys; r=$ours/$theirs; sys.exit(not 0.5 <= r <= 2.0)"' \
    "chim-load $ours vs wrk $theirs req/s: not in the same range"
check '[ "$(jget $TMP/c.json errors)" = 0 ]' "closed-loop errors: $(cat $TMP/c.json)"

# Open loop: 20 users x 50 req/s = 1000 req/s, held within 5 %.
"$BIN/chim-load" --target $URL --scenario health --users 20 --rate 50 --duration 2 \
    --format json >$TMP/o.json || fail "chim-load failed"
rps=$(jget $TMP/o.json rps)
check 'python3 -c "import sys; sys.exit(not 950 <= $rps <= 1050)"' "open loop held $rps req/s, wanted 1000"
check '[ "$(jget $TMP/o.json unsent)" = 0 ]' "open loop fell behind: $(cat $TMP/o.json)"

stop $LASTPID
PIDS=()
echo "PASS: load vs wrk"
