#!/usr/bin/env bash
# run_netbench.sh - servers plain vs. under the agent, alternating runs,
# median throughput of RUNS each, ratio to plain (of the medians, and the
# median of each plain/agent pair's ratio, a pair runs seconds apart, with
# its 95 % confidence interval from 6 runs on):
#   nginx (1 worker, static file) driven by wrk, and
#   redis-server driven by redis-benchmark (GET/SET, pipelining off).
#   tools/bench/run_netbench.sh [BUILD_DIR] [RUNS] [SECONDS]
# The server runs on CPU 0 and the client on CPU 1 (taskset), so a run does
# not depend on where the scheduler happened to put them; CHIM_BENCH_PIN=0
# leaves placement to the scheduler.
set -euo pipefail
build=${1:-build}; runs=${2:-5}; secs=${3:-3}
agent=$(realpath "$build/lib/libchimagent.so")
work=$(mktemp -d); seg=$work/seg; mkdir -m 700 "$seg"; chmod 755 "$work"
cleanup() { pkill -F "$work/nginx.pid" 2>/dev/null || true; [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
srv_cpu=(); cli_cpu=()
if [ "${CHIM_BENCH_PIN:-1}" != 0 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  srv_cpu=(taskset -c 0); cli_cpu=(taskset -c 1)
fi
. "$(dirname "$0")/stats.sh"
echo hello > "$work/index.html"; chmod 644 "$work/index.html"
user=""; [ "$(id -u)" = 0 ] && user="user www-data;"
cat > "$work/nginx.conf" <<CONF
$user worker_processes 1; daemon on; master_process on; pid $work/nginx.pid; error_log $work/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f;
  uwsgi_temp_path $work/u; scgi_temp_path $work/s; server { listen 127.0.0.1:18780; root $work; } }
CONF
nginx_run() { # preload -> requests/s
  "${srv_cpu[@]}" env ${1:+LD_PRELOAD=$1} CHIM_DIR="$seg" ${CHIM_NET:+CHIM_NET=$CHIM_NET} nginx -c "$work/nginx.conf" -p "$work"
  sleep 0.3
  "${cli_cpu[@]}" wrk -t1 -c32 -d"${secs}s" http://127.0.0.1:18780/index.html | awk '/Requests\/sec/ {print $2}'
  kill -QUIT "$(cat "$work/nginx.pid")"; sleep 0.5; rm -f "$seg"/*.seg
}
redis_run() {
  "${srv_cpu[@]}" env ${1:+LD_PRELOAD=$1} CHIM_DIR="$seg" redis-server --port 18781 --bind 127.0.0.1 --save '' \
    --appendonly no >/dev/null & rpid=$!
  sleep 0.3
  "${cli_cpu[@]}" redis-benchmark -p 18781 -q -n 200000 -c 32 -t get,set --csv | awk -F'"' 'NR>1 {s+=$4; n++} END {print s/n}'
  kill "$rpid"; wait "$rpid" 2>/dev/null || true; rpid=""; rm -f "$seg"/*.seg
}
printf "%-8s %12s %12s %8s %8s %15s\n" server plain agent ratio paired "paired 95% CI"
for srv in nginx redis; do
  p=""; a=""
  for ((i = 0; i < runs; i++)); do p+="$(${srv}_run "") "; a+="$(${srv}_run "$agent") "; done
  [ -n "${CHIM_BENCH_VERBOSE:-}" ] && echo "$srv plain: $p / agent: $a" >&2
  mp=$(med "$p"); ma=$(med "$a")
  read -r lo hi <<<"$(paired_ci "$a" "$p")"
  printf "%-8s %12.0f %12.0f %8.3f %8.3f %15s\n" "$srv" "$mp" "$ma" "$(ratio "$ma" "$mp")" "$(paired "$a" "$p")" \
    "$(ci_text "$lo" "$hi")"
done
