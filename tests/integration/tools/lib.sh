# lib.sh - helpers of the tools' integration tests: start a server on a port
# the kernel picks and wait for its ready line, stop everything on exit
# (also on failure or Ctrl-C), read JSON fields, fail with one line.
# Usage: BUILD=$1; . lib.sh
set -u
BIN="${1:?usage: $0 BUILD_DIR}/bin"
TMP=$(mktemp -d /tmp/chim-tools-test.XXXXXX)
PIDS=()
PORT=
LASTPID=

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $*" >&2
    exit 77
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME ARGS...: runs $BIN/NAME ARGS on 127.0.0.1:0 (unless ARGS has
# --listen); sets PORT and LASTPID once the ready line is printed.
start() {
    local name=$1 out
    shift
    out="$TMP/$name.$RANDOM.out"
    "$BIN/$name" --listen 127.0.0.1:0 "$@" >"$out" 2>&1 &
    LASTPID=$!
    PIDS+=("$LASTPID")
    for _ in $(seq 50); do
        PORT=$(sed -n 's/^.* listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null)
        [ -n "$PORT" ] && return 0
        kill -0 "$LASTPID" 2>/dev/null || fail "$name exited at start: $(cat "$out")"
        sleep 0.1
    done
    fail "$name printed no ready line within 5 s"
}

# stop PID: SIGTERM, and the process must exit 0 within 5 s.
stop() {
    local pid=$1 rc
    kill -TERM "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && fail "pid $pid still running 5 s after SIGTERM"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 0 ] || fail "pid $pid exited $rc after SIGTERM"
}

# jget FILE KEY[.KEY...]: prints one JSON field (python3 is a test dependency).
jget() {
    python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
print(v)' "$1" "$2"
}

# free_port: a port nobody listens on right now.
free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# check COND MESSAGE: fails with MESSAGE unless the shell test COND holds.
check() {
    eval "$1" || fail "$2"
}
