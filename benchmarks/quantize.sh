#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/quantize.sh [BUILD_DIR] [WORK_DIR]: the model quantizer on a 1B-parameter llama-shaped
# BF16 model (hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, vocab 128256, tied
# embeddings like Llama 3.2 1B; random weights, seed 1) written with Smelt's own GGUF writer.
# Quantizes it to Q8_0, Q4_0, Q4_K_M, Q6_K and IQ4_XS with 2 threads and prints wall time, peak
# RSS (/usr/bin/time -v) and the RMSE of all changed tensors against the BF16 input, next to the
# reference figures of llama-quantize at 2 threads on this machine (issue 3). Needs ~2.5 GB for
# the model and ~1.3 GB for one output at a time under WORK_DIR (default /tmp/smelt-bench-quantize).
# TYPES="Q8_0 Q4_0" limits the run. Not a test: takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
work=${2:-/tmp/smelt-bench-quantize}
read -r -a types <<<"${TYPES:-Q8_0 Q4_0 Q4_K_M Q6_K IQ4_XS}"
declare -A ref_time=([Q8_0]=12.5 [Q4_0]=10.1 [Q4_K_M]=45.7 [Q6_K]=26.9 [IQ4_XS]=131)
ref_rss_mb=1770

ninja -C "$build" src/app/smelt tests/common/smelt-make-test-model \
  tests/common/smelt-compare-models >/dev/null
mkdir -p "$work"
model=$work/llama-1b-bf16.gguf
if [[ ! -f $model ]]; then
  echo "making $model ..." >&2
  "$build/tests/common/smelt-make-test-model" "$model" --layers 16 --dim 2048 --heads 32 \
    --kv-heads 8 --ffn 8192 --vocab 128256 --type bf16 --tied --seed 1
fi
echo "input: $model ($(( $(stat -c %s "$model") / 1000000 )) MB), 2 threads, $(nproc) CPUs," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-8s %8s %8s %8s %8s %8s %12s %10s %8s\n' TYPE "wall s" "CPU s" "ref s" "RSS MB" \
  "ref MB" "RMSE" "rel RMSE" "size MB"
for t in "${types[@]}"; do
  out=$work/out-$t.gguf
  /usr/bin/time -v -o "$work/time-$t.txt" "$build/src/app/smelt" quantize "$model" "$out" "$t" \
    --threads 2 >/dev/null 2>"$work/log-$t.txt"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
                       for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' \
         "$work/time-$t.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%d", $2 / 1024 }' "$work/time-$t.txt")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.1f", s }' \
        "$work/time-$t.txt")
  cmp=$("$build/tests/common/smelt-compare-models" "$model" "$out")
  rmse=$(sed -n 's/.*rmse=\([^ ]*\) rel_rmse.*/\1/p' <<<"$cmp")
  rel=$(sed -n 's/.*rel_rmse=\([^ ]*\).*/\1/p' <<<"$cmp")
  size=$(( $(stat -c %s "$out") / 1000000 ))
  printf '%-8s %8s %8s %8s %8s %8s %12s %10s %8s\n' "$t" "$wall" "$cpu" "${ref_time[$t]}" \
    "$rss" "~$ref_rss_mb" "$rmse" "$rel" "$size"
  rm -f "$out"
done
echo
echo "ref = llama-quantize at 2 threads on this machine, as given in issue 3 (wall time; its RMSE"
echo "was not given and llama-quantize is not available here to measure it). CPU s = user + system"
echo "time of smelt: on a busy machine (load average above 2) compare CPU s / 2 with the reference."
