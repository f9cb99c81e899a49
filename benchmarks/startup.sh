#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/startup.sh [BUILD_DIR] [RUNS]: time from launching `smelt` to its first drawn frame
# (target under 0.5 s) and the idle window's resident memory with no model loaded (target under
# 100 MB), on a private Xvfb display with the cairo renderer, the way the e2e test runs it.
# Prints one line per run and the median. Not a test: run it by hand.
# Under Xvfb, GTK's GL probe maps Mesa's software driver (libLLVM alone is ~44 MB of RSS); run
# with GDK_DEBUG=gl-disable to measure Smelt without it. The machine's load average is printed
# because the launch time depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-5}
exe=$build/src/app/smelt

if [[ -z ${SMELT_BENCH_INNER:-} ]]; then
  [[ -x $exe ]] || { echo "build first: ninja -C $build" >&2; exit 1; }
  exec env SMELT_BENCH_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" "$0" "$@"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GSETTINGS_BACKEND=memory GSETTINGS_SCHEMA_DIR=$build/data GDK_BACKEND=x11
export GSK_RENDERER=${GSK_RENDERER:-cairo} GTK_A11Y=none SMELT_DEBUG_FIRST_FRAME=1
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache

# One untimed run warms the page cache, as a user's second launch would be.
timeout 10 "$exe" >/dev/null 2>&1 & sleep 1.5; kill $! 2>/dev/null || true; wait 2>/dev/null || true

times=() rss=()
for i in $(seq "$runs"); do
  log=$tmp/run$i.log
  : >"$log"
  start=$(date +%s.%N)
  "$exe" 2>"$log" &
  pid=$!
  for _ in $(seq 100); do grep -q "first frame drawn" "$log" && break; sleep 0.05; done
  frame=$(sed -n 's/^smelt: first frame drawn at //p' "$log")
  sleep 2  # idle
  kb=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  [[ -n $frame ]] || { echo "run $i: no frame reported"; cat "$log"; exit 1; }
  t=$(echo "$frame - $start" | bc -l)
  printf 'run %d: first frame %.3f s, idle RSS %.1f MB\n' "$i" "$t" "$(echo "$kb / 1024" | bc -l)"
  times+=("$t") rss+=("$kb")
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; GDK_DEBUG=${GDK_DEBUG:-}"
median () { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf 'median: first frame %.3f s (target < 0.5 s), idle RSS %.1f MB (target < 100 MB)\n' \
  "$(median "${times[@]}")" "$(echo "$(median "${rss[@]}") / 1024" | bc -l)"
