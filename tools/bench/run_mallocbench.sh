#!/usr/bin/env bash
# run_mallocbench.sh - plain vs. instrumented mallocbench, alternating runs,
# median of RUNS per configuration, ratio to plain; 1 and 2 threads.
#   tools/bench/run_mallocbench.sh [BUILD_DIR] [RUNS] [OPS]
# Modes compared: plain, count (CHIM_MODE=count), plus sample, full and
# heaptrack where available. Two ratios: of the medians, and the median of
# each round's ratio to that round's plain run (runs of one round are
# seconds apart, so a drift of the machine cancels out), with a 95 %
# confidence interval of the latter (from 6 runs on).
# CHIM_BENCH_SIZES="8 64": block sizes from 8 to 64 bytes instead of 16 B to
# 4 KiB (the window stays 1024 blocks per thread).
set -euo pipefail
build=${1:-build}; runs=${2:-7}; ops=${3:-2000000}
bench=$build/bin/mallocbench; agent=$(realpath "$build/lib/libchimagent.so")
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
modes=(plain count sample full)
command -v heaptrack >/dev/null && modes+=(heaptrack)
[ -n "${CHIM_BENCH_MODES:-}" ] && read -r -a modes <<<"$CHIM_BENCH_MODES"
sizes=()
[ -n "${CHIM_BENCH_SIZES:-}" ] && read -r -a sizes <<<"1024 $CHIM_BENCH_SIZES"
one() { # mode threads -> ns per pair
  case $1 in
    plain) "$bench" "$2" "$ops" "${sizes[@]}" ;;
    heaptrack) heaptrack -o "$dir/ht" "$bench" "$2" "$ops" "${sizes[@]}" 2>/dev/null | grep -E '^[0-9.]+$'; rm -f "$dir"/ht* ;;
    *) CHIM_DIR=$dir CHIM_MODE=$1 LD_PRELOAD=$agent "$bench" "$2" "$ops" "${sizes[@]}"; rm -f "$dir"/*.seg ;;
  esac
}
. "$(dirname "$0")/stats.sh"
printf "%-8s %-10s %10s %8s %8s %15s\n" threads mode "ns/pair" ratio paired "paired 95% CI"
for t in 1 2; do
  declare -A res=()
  for ((i = 0; i < runs; i++)); do
    for m in "${modes[@]}"; do res[$m]+="$(one "$m" "$t") "; done
  done
  base=$(med "${res[plain]}")
  for m in "${modes[@]}"; do
    mm=$(med "${res[$m]}")
    read -r lo hi <<<"$(paired_ci "${res[$m]}" "${res[plain]}")"
    printf "%-8s %-10s %10.2f %8.3f %8.3f %15s\n" "$t" "$m" "$mm" "$(ratio "$mm" "$base")" \
      "$(paired "${res[$m]}" "${res[plain]}")" "$(ci_text "$lo" "$hi")"
  done
  unset res
done
