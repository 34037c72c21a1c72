#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages Chimera builds and tests with,
# skipping what is already there. Used by both README commands and .ci/run.
#   tools/deps.sh          build + demo dependencies
#   tools/deps.sh --test   also the real servers and clients the tests drive
set -euo pipefail
pkgs=(build-essential cmake pkg-config libunwind-dev libjemalloc-dev libjemalloc2
      libcjson-dev libdw-dev libelf-dev libmicrohttpd-dev libncurses-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(libcriterion-dev nginx-light redis-server redis-tools memcached wrk curl
         python3 perl sqlite3 git valgrind clang libclang-rt-14-dev tmux procps chromium
         prometheus)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
