#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Bounded fuzzing of the GGUF reader for CI: writes the seed corpus, runs libFuzzer for
# SECONDS (default 60) on it and reports one TAP result. New interesting inputs go to a
# scratch corpus that is thrown away; a crash leaves its input in the build directory.
# usage: run-fuzz.sh FUZZER MAKE-SEEDS WORKDIR [SECONDS]
fuzzer=$1 make_seeds=$2 work=$3 seconds=${4:-60}
echo "1..1"
rm -rf "$work/seeds" "$work/corpus"
mkdir -p "$work/seeds" "$work/corpus" || exit 1
if ! "$make_seeds" "$work/seeds" 2>&1 | sed 's/^/# /'; then
  echo "not ok 1 - the seed corpus could not be written"
  exit 1
fi
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$work/seeds" >"$work/fuzz.log" 2>&1
status=$?
sed 's/^/# /' "$work/fuzz.log" | tail -n 40
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
if [ $status -eq 0 ]; then
  echo "ok 1 - GGUF reader fuzzed for ${seconds}s (${runs:-?} inputs), no crash"
else
  echo "not ok 1 - libFuzzer found a crash (exit $status): see $work/fuzz.log and crash-* there"
  exit 1
fi
