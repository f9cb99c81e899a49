#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/startup.sh [BUILD_DIR[,BUILD_DIR...]] [RUNS]: time from launching `smelt` (no
# arguments: the window) to its first drawn frame (target under 0.5 s) and the idle window's
# resident memory with no model loaded (target under 100 MB), on a private Xvfb display with the
# cairo renderer, the way the e2e test runs it. Several build dirs (e.g. `build-old,build`) are
# run interleaved, run 1 of each, then run 2 of each, ..., so a change in the machine's load hits
# them alike. Prints one line per run and the medians. Not a test: run it by hand.
#
# What a run measures, and why it is set up so:
# - The app runs inside dbus-run-session, with the GSettings backend a desktop uses (dconf), as a
#   user's launch runs inside a desktop session. (Until issue 7 it ran without a session bus, so
#   GApplication autolaunched a dbus-daemon through dbus-launch on the first run and reused it
#   on the others, and with the in-memory settings backend: neither is how a user starts it.)
# - "first frame" is the wall time from just before exec to the frame clock's first after-paint
#   (SMELT_DEBUG_FIRST_FRAME), "cpu" the CPU time of all the app's threads up to then (less
#   sensitive to the load of this shared machine than the wall time), "RSS" VmRSS after 2 s idle
#   (the figure the target is about) and "PSS" the proportional share from smaps_rollup (shared
#   library pages divided among the processes that map them).
# - The display has no GPU. GTK's X11 backend loads the GL driver at display open to choose a
#   visual, which here is Mesa's software rasteriser (libLLVM alone is ~44 MB of RSS); Smelt does
#   not let it when the machine has no GPU render node (see src/app/smelt-application.c).
#   GDK_DEBUG and GSK_RENDERER from the caller's environment are passed through;
#   GSK_RENDERER=default unsets it, so GTK picks its renderer as in a user's session.
# - SMELT_BENCH_MODEL=FILE.gguf runs the launch of a returning user instead: the Library lists
#   FILE (library.ini) and the newest saved conversation used it. The window still opens on the
#   Library; until issue 7 the Chat page reopened that model at startup.
# The machine's load average is printed because the launch time depends on it.
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-build}
runs=${2:-5}

if [[ -z ${SMELT_BENCH_INNER:-} ]]; then
  IFS=, read -ra dirs <<<"$builds"
  for b in "${dirs[@]}"; do
    [[ -x $b/src/app/smelt ]] || { echo "build first: ninja -C $b" >&2; exit 1; }
    [[ -f $b/data/gschemas.compiled ]] || { echo "build first: ninja -C $b data/gschemas.compiled" >&2; exit 1; }
  done
  unset DBUS_SESSION_BUS_ADDRESS
  exec env SMELT_BENCH_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- "$0" "$@"
fi

IFS=, read -ra dirs <<<"$builds"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GDK_BACKEND=x11 GSK_RENDERER=${GSK_RENDERER:-cairo} GTK_A11Y=none SMELT_DEBUG_FIRST_FRAME=1
# GSK_RENDERER=default leaves the choice to GTK, as a user's launch does (its default is GL).
[[ $GSK_RENDERER != default ]] || unset GSK_RENDERER
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
if [[ -n ${SMELT_BENCH_MODEL:-} ]]; then
  model=$(realpath "$SMELT_BENCH_MODEL")
  mkdir -p "$XDG_CONFIG_HOME/smelt" "$XDG_DATA_HOME/smelt/conversations"
  printf '[library]\nfolders=\nfiles=%s;\n' "$model" >"$XDG_CONFIG_HOME/smelt/library.ini"
  printf '{"version": 1, "id": "bench", "title": "Earlier chat", "model": "%s", "updated": %s,
    "messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi."}]}\n' \
    "$model" "$(date +%s)" >"$XDG_DATA_HOME/smelt/conversations/bench.json"
fi

# One untimed run of each build warms the page cache, as a user's second launch would be.
for b in "${dirs[@]}"; do
  GSETTINGS_SCHEMA_DIR=$b/data timeout 10 "$b/src/app/smelt" >/dev/null 2>&1 &
  sleep 1.5; kill $! 2>/dev/null || true; wait 2>/dev/null || true
done

declare -A times cpus rss pss
for i in $(seq "$runs"); do
  for b in "${dirs[@]}"; do
    log=$tmp/run.log
    : >"$log"
    start=$(date +%s.%N)
    GSETTINGS_SCHEMA_DIR=$b/data "$b/src/app/smelt" 2>"$log" &
    pid=$!
    for _ in $(seq 200); do grep -q "first frame drawn" "$log" && break; sleep 0.05; done
    sleep 2  # idle
    kb=$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)
    pkb=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)
    kill $pid; wait $pid 2>/dev/null || true
    # "first frame drawn at WALL" (older builds) or "... at WALL, cpu CPU s".
    frame=$(sed -n 's/^smelt: first frame drawn at \([0-9.]*\).*/\1/p' "$log")
    cpu=$(sed -n 's/^smelt: first frame drawn at .*, cpu \([0-9.]*\) s$/\1/p' "$log")
    [[ -n $frame ]] || { echo "$b run $i: no frame reported"; cat "$log"; exit 1; }
    t=$(echo "$frame - $start" | bc -l)
    printf '%-24s run %d: first frame %.3f s, cpu %s s, idle RSS %.1f MB, PSS %.1f MB\n' "$b" "$i" \
      "$t" "${cpu:-?}" "$(echo "$kb / 1024" | bc -l)" "$(echo "$pkb / 1024" | bc -l)"
    times[$b]+="$t " cpus[$b]+="${cpu:-0} " rss[$b]+="$kb " pss[$b]+="$pkb "
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs;" \
  "GDK_DEBUG=${GDK_DEBUG:-} GSK_RENDERER=${GSK_RENDERER:-default} SMELT_BENCH_MODEL=${SMELT_BENCH_MODEL:-}"
median () { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for b in "${dirs[@]}"; do
  # shellcheck disable=SC2086
  printf '%-24s median: first frame %.3f s (target < 0.5 s), cpu %.3f s, idle RSS %.1f MB (target < 100 MB), PSS %.1f MB\n' \
    "$b" "$(median ${times[$b]})" "$(median ${cpus[$b]})" \
    "$(echo "$(median ${rss[$b]}) / 1024" | bc -l)" "$(echo "$(median ${pss[$b]}) / 1024" | bc -l)"
done
