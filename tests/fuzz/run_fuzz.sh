#!/bin/sh
# run_fuzz.sh CLANG SRCDIR OUTDIR TARGET SECONDS|build
# Builds one libFuzzer target with clang (ASan + UBSan) and runs it for a
# short time over the committed seed corpus. Exits 77 (ctest: skipped) when
# no clang with libFuzzer is available.
set -u
clang=$1 src=$2 out=$3 target=$4 secs=$5
if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
    echo "SKIPPED: no clang found; fuzz target $target not built" >&2
    exit 77
fi
mkdir -p "$out/corpus-$target" || exit 1
srcs=""
case $target in
route) srcs="$src/agent/route.c" ;;
http) srcs="$src/agent/proto_http.c" ;;
resp) srcs="$src/agent/proto_resp.c" ;;
memcache) srcs="$src/agent/proto_memcache.c" ;;
esac
bin="$out/fuzz_$target"
if ! "$clang" -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$src/agent" -I"$src/include" -I"$src/tests/fuzz" \
    "$src/tests/fuzz/fuzz_$target.c" $srcs -o "$bin" 2>"$out/fuzz_$target.build.log"; then
    if grep -q -i 'fuzzer' "$out/fuzz_$target.build.log" &&
        grep -q -i -E 'cannot find|not found|unsupported' "$out/fuzz_$target.build.log"; then
        echo "SKIPPED: $clang cannot link libFuzzer" >&2
        cat "$out/fuzz_$target.build.log" >&2
        exit 77
    fi
    cat "$out/fuzz_$target.build.log" >&2
    exit 1
fi
[ "$secs" = build ] && exit 0
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$out/crash-$target-" "$out/corpus-$target" "$src/tests/fuzz/corpus/$target"
