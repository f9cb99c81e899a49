#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds bench-vs-ggml.c against the CPU kernels of a ggml checkout (ggml-org/ggml, or the ggml/
# folder of llama.cpp) given on the command line, and runs it. Nothing of ggml is kept: objects go
# to a temporary folder. ggml is compiled -O3 -march=native, as a local llama.cpp build would be.
# Usage: benchmarks/vs-ggml/bench-vs-ggml.sh GGML_DIR [BUILD_DIR]   (x86-64 only)
set -e
ggml=$1
build=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ ! -f "$ggml/src/ggml-quants.c" ] || [ ! -f "$ggml/src/ggml-cpu/arch/x86/quants.c" ]; then
  echo "usage: $0 GGML_DIR [BUILD_DIR]  (GGML_DIR must hold src/ggml-quants.c)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
inc="-I$ggml/include -I$ggml/src -I$ggml/src/ggml-cpu"
cc -O3 -march=native -std=gnu11 -w $inc -c "$ggml/src/ggml-quants.c" -o "$tmp/ggml-quants.o"
cc -O3 -march=native -std=gnu11 -w $inc -DGGML_USE_CPU -c "$ggml/src/ggml-cpu/arch/x86/quants.c" \
  -o "$tmp/x86-quants.o"
cc -O2 -std=gnu11 -I"$root/src/engine" "$here/bench-vs-ggml.c" "$tmp/x86-quants.o" \
  "$tmp/ggml-quants.o" "$root/$build/src/engine/libsmelt-engine.a" -lm -lpthread \
  -o "$tmp/bench-vs-ggml"
"$tmp/bench-vs-ggml"
