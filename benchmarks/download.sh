#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/download.sh [BUILD_DIR] [SIZE_MIB]: throughput of `smelt pull` against `curl -o` for
# one big file (default 2048 MiB) served from loopback by the fake Hub (tests/fake-hub, standalone),
# with wall time, CPU time (user+sys) and peak RSS from /usr/bin/time. Smelt also verifies the
# sha256 and fsyncs before the rename; curl does neither, so a second curl row adds `sha256sum`
# and `sync` for the same work. Not a test: run it by hand (the machine should be otherwise idle).
#
# The file is sparse (zeros, no disk used for the source); the downloaded copies are real files in
# a temporary folder under $TMPDIR, deleted at the end.
set -euo pipefail

BUILD=${1:-build}
SIZE_MIB=${2:-2048}
SMELT=$(realpath "$BUILD/src/app/smelt")
FAKE_HUB=$(realpath "$BUILD/tests/fake-hub/fake-hub")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/smelt-bench-XXXXXX")
HUB_PID=""

cleanup() {
  [[ -n $HUB_PID ]] && kill "$HUB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/root/bench/Big-GGUF"
truncate -s "${SIZE_MIB}M" "$WORK/root/bench/Big-GGUF/Big-Q8_0.gguf"

echo "Starting the fake Hub (it hashes the ${SIZE_MIB} MiB file first)..." >&2
"$FAKE_HUB" --root "$WORK/root" > "$WORK/url" &
HUB_PID=$!
for _ in $(seq 1 3000); do
  [[ -s $WORK/url ]] && break
  sleep 0.1
done
URL=$(head -n1 "$WORK/url")
[[ -n $URL ]] || { echo "fake hub did not start" >&2; exit 1; }

# Prints "seconds cpu_seconds max_rss_kib" for a command.
measure() {
  local out=$WORK/time.txt
  /usr/bin/time -f "%e %U %S %M" -o "$out" "$@" >/dev/null 2>"$WORK/stderr" \
    || { cat "$WORK/stderr" >&2; exit 1; }
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$out"
}

row() {
  local name=$1 secs=$2 cpu=$3 rss=$4
  awk -v n="$name" -v s="$secs" -v c="$cpu" -v r="$rss" -v mib="$SIZE_MIB" \
    'BEGIN { printf "%-28s %8.2f s %9.0f MiB/s %8.2f s CPU %8.1f MiB RSS\n", n, s, (s > 0 ? mib / s : 0), c, r / 1024 }'
}

export HF_ENDPOINT=$URL HF_TOKEN_PATH=/nonexistent XDG_DATA_HOME=$WORK/data

echo "File: ${SIZE_MIB} MiB over loopback from $URL; $(nproc) CPUs" >&2
printf '%-28s %10s %15s %14s %16s\n' TOOL WALL THROUGHPUT CPU "PEAK RSS"

read -r s c r < <(measure curl -sS -L -o "$WORK/curl.gguf" "$URL/bench/Big-GGUF/resolve/main/Big-Q8_0.gguf")
row "curl -o" "$s" "$c" "$r"
rm -f "$WORK/curl.gguf"

# The same work Smelt does after the transfer: hash the file and flush it to disk.
read -r s c r < <(measure sh -c 'curl -sS -L -o "$1" "$2" && sha256sum "$1" && sync -d "$1"' sh \
  "$WORK/curl.gguf" "$URL/bench/Big-GGUF/resolve/main/Big-Q8_0.gguf")
row "curl -o + sha256sum + sync" "$s" "$c" "$r"
rm -f "$WORK/curl.gguf"

for n in 1 4; do
  rm -rf "$WORK/data" "$WORK/smelt"
  read -r s c r < <(measure "$SMELT" pull bench/Big-GGUF:Q8_0 --dir "$WORK/smelt" --connections "$n")
  row "smelt pull --connections $n" "$s" "$c" "$r"
  cmp -s <(head -c 1048576 "$WORK/smelt/Big-Q8_0.gguf") <(head -c 1048576 /dev/zero) || { echo "bad data" >&2; exit 1; }
done
