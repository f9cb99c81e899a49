#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# benchmarks/bench-vs-llamacpp.sh [--build DIR] [--work DIR] [--threads N] [-p N] [-n N] [-r N]
#                                 [--types "BF16 F16 ..."] [--llama-bench PATH] [--rounds N]
#                                 [--keep]
#
# Smelt against llama.cpp on the Llama-3.2-1B-shaped model of issue 8 (hidden 2048, 16 layers,
# 32 heads / 8 KV heads, FFN 8192, vocab 128256 from the Llama 3 vocabulary fixture, tied
# embeddings, random weights with seed 1): written in BF16 by Smelt's own writer
# (tests/engine/make-test-model), then `smelt quantize`d to each type. For every type the two
# implementations run interleaved (smelt, reference, smelt, reference ... --rounds times), each
# with its own warm-up, at --threads threads; the table shows the mean tokens/s of the rounds
# and the ratio Smelt / llama.cpp for pp and tg (>= 1.00: Smelt is faster).
#
# Reference: a local llama-bench binary when --llama-bench is given (`llama-bench -m M -t T -p P
# -n N -r R -o json`), otherwise llama.cpp through npm's node-llama-cpp
# (benchmarks/llamacpp-bench.mjs, needs tests/parity/node_modules: run the parity tests once).
# Needs about 2.5 GB for the BF16 model plus one quantized file at a time under --work (--keep
# keeps every quantized file there, about 9 GB, and a later run reuses them; our quantizer's
# output does not change between builds: it is byte-identical with llama.cpp's). Takes minutes
# per type: not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
work=/tmp/smelt-bench-vs-llamacpp
threads=2
n_prompt=128
n_gen=32
reps=3
rounds=2
types="BF16 F16 Q8_0 Q4_0 Q4_K_M Q6_K IQ4_XS"
llama_bench=
keep=

while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --threads|-t) threads=$2; shift 2 ;;
    -p) n_prompt=$2; shift 2 ;;
    -n) n_gen=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --llama-bench) llama_bench=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--work DIR] [--threads N] [-p N] [-n N] [-r N]" \
            "[--rounds N] [--types \"T ...\"] [--llama-bench PATH] [--keep]" >&2; exit 2 ;;
  esac
done

smelt=$build/src/app/smelt
ninja -C "$build" src/app/smelt tests/engine/make-test-model >/dev/null
mkdir -p "$work"
base=$work/llama-1b-bf16.gguf
if [[ ! -f $base ]]; then
  echo "writing $base ..." >&2
  "$build/tests/engine/make-test-model" "$base" --arch llama \
    --vocab ../shared/fixtures/vocab/ggml-vocab-llama-bpe.gguf --dim 2048 --layers 16 \
    --heads 32 --kv-heads 8 --ff 8192 --tied --ctx 131072 --rope-base 500000 --type bf16 \
    --seed 1
fi

# tokens/s of one test ("pp128"/"tg32") from a JSON array as smelt bench --json and
# llamacpp-bench.mjs print; llama-bench's JSON has n_prompt/n_gen/avg_ts instead.
json_ts() {
  python3 -c '
import json, sys
data = json.load(sys.stdin)
want = sys.argv[1]
for r in data:
    if "test" in r:
        name, ts = r["test"], r["tokens_per_second"]
    else:
        name = ("pp%d" % r["n_prompt"]) if r.get("n_gen", 0) == 0 else ("tg%d" % r["n_gen"])
        ts = r["avg_ts"]
    if name == want:
        print("%.3f" % ts)
        break
' "$1"
}

reference() {
  if [[ -n $llama_bench ]]; then
    "$llama_bench" -m "$1" -t "$threads" -p "$n_prompt" -n "$n_gen" -r "$reps" -o json
  else
    node benchmarks/llamacpp-bench.mjs "$1" "$threads" "$n_prompt" "$n_gen" "$reps"
  fi
}

mean() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.2f" % (sum(v)/len(v)))' "$@"; }

echo "model: Llama-3.2-1B shape, random weights; $threads threads; pp$n_prompt tg$n_gen;" \
     "$reps reps x $rounds interleaved rounds; reference: ${llama_bench:-node-llama-cpp 3.22.1}"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| %-7s | %9s | %12s | %12s | %6s | %12s | %12s | %6s |\n' type size "smelt pp" "llama.cpp pp" ratio \
  "smelt tg" "llama.cpp tg" ratio
printf '| ------- | --------: | -----------: | -----------: | -----: | -----------: | -----------: | -----: |\n'
for t in $types; do
  model=$work/llama-1b-$t.gguf
  if [[ $t != BF16 && ! -f $model ]]; then
    "$smelt" quantize "$base" "$model" "$t" --threads "$threads" >/dev/null 2>"$work/quantize.log" ||
      { echo "smelt quantize $t failed: $(tail -1 "$work/quantize.log")" >&2; exit 1; }
  fi
  [[ $t == BF16 ]] && model=$base
  s_pp=(); s_tg=(); r_pp=(); r_tg=()
  for ((round = 0; round < rounds; round++)); do
    out=$("$smelt" bench "$model" -t "$threads" -p "$n_prompt" -n "$n_gen" -r "$reps" --json) ||
      { echo "smelt bench failed on $model" >&2; exit 1; }
    s_pp+=("$(json_ts "pp$n_prompt" <<<"$out")"); s_tg+=("$(json_ts "tg$n_gen" <<<"$out")")
    out=$(reference "$model") || { echo "reference failed on $model" >&2; exit 1; }
    r_pp+=("$(json_ts "pp$n_prompt" <<<"$out")"); r_tg+=("$(json_ts "tg$n_gen" <<<"$out")")
  done
  spp=$(mean "${s_pp[@]}"); stg=$(mean "${s_tg[@]}"); rpp=$(mean "${r_pp[@]}"); rtg=$(mean "${r_tg[@]}")
  size=$(python3 -c "import os; print('%.0f MiB' % (os.path.getsize('$model') / 1048576))")
  printf '| %-7s | %9s | %12s | %12s | %6s | %12s | %12s | %6s |\n' "$t" "$size" "$spp" "$rpp" \
    "$(python3 -c "print('%.2f' % ($spp / $rpp))")" "$stg" "$rtg" \
    "$(python3 -c "print('%.2f' % ($stg / $rtg))")"
  [[ $t != BF16 && -z $keep ]] && rm -f "$model"
done
