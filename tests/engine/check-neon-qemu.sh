#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Cross-builds the quantization kernels for aarch64 (Debian's gcc-aarch64-linux-gnu) and runs
# check-quant-cross.c under qemu-user, once for baseline armv8-a (SMULL/SADALP byte dots) and
# once for armv8.2-a+dotprod (SDOT). Skips (TAP "1..0 # SKIP") when the tools are not installed:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# Usage: check-neon-qemu.sh SOURCE_ROOT BUILD_DIR
src=$1/src/engine
out=$2/neon-qemu
test_src=$1/tests/engine/check-quant-cross.c
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
  echo "1..0 # SKIP $CC or $QEMU not installed"
  exit 0
fi
mkdir -p "$out"
flags="-O2 -std=gnu11 -D_GNU_SOURCE -DSM_HAVE_NEON_KERNELS -Wall -Wextra -Werror -Wno-unused-parameter -I$src"
exes=""
for march in armv8-a armv8.2-a+dotprod; do
  exe="$out/check-quant-cross-$(echo $march | tr '+.' '__')"
  exes="$exes $exe"
  if ! { $CC $flags -march=$march -ffp-contract=off -c "$src/sm-quant-ref.c" -o "$exe-ref.o" &&
         $CC $flags -march=$march -o "$exe" "$test_src" "$exe-ref.o" "$src/sm-common.c" \
           "$src/sm-types.c" "$src/sm-quant.c" "$src/sm-quant-fast.c" "$src/sm-quant-grids.c" \
           "$src/sm-dispatch.c" "$src/arch/sm-quant-neon.c" -lm -lpthread; } > "$out/build.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - cross build for $march failed"
    sed 's/^/# /' "$out/build.log"
    exit 1
  fi
done
# Run both binaries; renumber their TAP into one stream.
results=""
for exe in $exes; do
  tag=$(basename "$exe" | sed 's/check-quant-cross-//')
  res=$("$QEMU" -L /usr/aarch64-linux-gnu "$exe" 2>&1)
  results="$results$(echo "$res" | grep -E '^(not )?ok ' | sed "s/ - / - [$tag] /")
"
done
count=$(printf "%s" "$results" | grep -cE '^(not )?ok ')
echo "1..$count"
printf "%s" "$results" | grep -E '^(not )?ok ' | awk '{ n++; sub(/^(not ok|ok) [0-9]+/, ($1 == "not" ? "not ok " : "ok ") n); print }'
printf "%s" "$results" | grep -q '^not ok' && exit 1
exit 0
