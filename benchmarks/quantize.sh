#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/quantize.sh [BUILD_DIR] [WORK_DIR]: the model quantizer on a 1B-parameter llama-shaped
# BF16 model (hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, vocab 128256, tied
# embeddings like Llama 3.2 1B; random weights, seed 1) written with Smelt's own GGUF writer.
# Quantizes it to Q8_0, Q4_0, Q4_K_M, Q6_K and IQ4_XS with 2 threads and prints wall time, CPU
# time, peak RSS (/usr/bin/time -v) and the RMSE of all changed tensors against the BF16 input,
# next to the reference figures of llama-quantize at 2 threads on this machine (issue 3).
# When tests/parity/node_modules holds node-llama-cpp's libllama (meson test --suite parity
# installs it), llama.cpp's own quantizer (llama_model_quantize, through
# tests/parity/llama-quantize-ref) is also run on the same input in the same conditions: a
# second line per TYPE, "llama.cpp", plus whether its tensors equal Smelt's byte for byte.
# Needs ~2.5 GB for the model and ~2.6 GB for two outputs at a time under WORK_DIR (default
# /tmp/smelt-bench-quantize). TYPES="Q8_0 Q4_0" limits the run; REF=0 skips llama.cpp.
# Not a test: takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
work=${2:-/tmp/smelt-bench-quantize}
read -r -a types <<<"${TYPES:-Q8_0 Q4_0 Q4_K_M Q6_K IQ4_XS}"
declare -A ref_time=([Q8_0]=12.5 [Q4_0]=10.1 [Q4_K_M]=45.7 [Q6_K]=26.9 [IQ4_XS]=131)
declare -A ftype=([Q8_0]=7 [Q4_0]=2 [Q4_K_M]=15 [Q6_K]=18 [IQ4_XS]=30 [Q5_K_M]=17 [Q4_K_S]=14)
ref_rss_mb=1770

ninja -C "$build" src/app/smelt tests/common/smelt-make-test-model \
  tests/common/smelt-compare-models tests/parity/llama-quantize-ref >/dev/null
libllama=$(ls tests/parity/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama*.so \
           2>/dev/null | head -1 || true)
[[ ${REF:-1} == 1 ]] || libllama=""
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
printf '%-8s %-9s %8s %8s %8s %8s %8s %12s %10s %8s\n' TYPE "by" "wall s" "CPU s" "issue s" \
  "RSS MB" "issue MB" "RMSE" "rel RMSE" "size MB"

# measure TYPE LABEL OUT COMMAND...: one table line.
measure() {
  local t=$1 label=$2 out=$3 wall rss cpu cmp rmse rel size
  shift 3
  /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/log-$t-$label.txt"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
                       for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.1f", s }' \
         "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%d", $2 / 1024 }' "$work/time.txt")
  cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.1f", s }' \
        "$work/time.txt")
  cmp=$("$build/tests/common/smelt-compare-models" "$model" "$out")
  rmse=$(sed -n 's/.*rmse=\([^ ]*\) rel_rmse.*/\1/p' <<<"$cmp")
  rel=$(sed -n 's/.*rel_rmse=\([^ ]*\).*/\1/p' <<<"$cmp")
  size=$(( $(stat -c %s "$out") / 1000000 ))
  printf '%-8s %-9s %8s %8s %8s %8s %8s %12s %10s %8s\n' "$t" "$label" "$wall" "$cpu" \
    "${ref_time[$t]:--}" "$rss" "~$ref_rss_mb" "$rmse" "$rel" "$size"
}

for t in "${types[@]}"; do
  measure "$t" smelt "$work/out-$t.gguf" \
    "$build/src/app/smelt" quantize "$model" "$work/out-$t.gguf" "$t" --threads 2
  if [[ -n $libllama ]]; then
    measure "$t" llama.cpp "$work/ref-$t.gguf" \
      "$build/tests/parity/llama-quantize-ref" "$libllama" "$model" "$work/ref-$t.gguf" \
      "${ftype[$t]}" 2
    "$build/tests/common/smelt-compare-models" --tensors "$work/ref-$t.gguf" "$work/out-$t.gguf" \
      | tail -1 | sed 's/^/         tensors equal to llama.cpp'"'"'s: /'
    rm -f "$work/ref-$t.gguf"
  fi
  rm -f "$work/out-$t.gguf"
done
echo
echo "issue s / issue MB = llama-quantize at 2 threads on this machine, as given in issue 3 (wall"
echo "time, RSS). CPU s = user + system time: on a busy machine (load average above 2) wall times"
echo "are not comparable between runs; the llama.cpp lines were measured in the same conditions."
