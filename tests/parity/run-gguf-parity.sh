#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
#
# run-gguf-parity.sh: makes sure node-llama-cpp (the llama.cpp reference, testing.md) is in
# tests/parity/node_modules, then runs gguf-parity.mjs. Prints TAP; when node or the package is
# unavailable (no registry access), the whole test is a TAP skip, not a failure.
dir=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1; then
  echo "1..0 # SKIP node is not installed"
  exit 0
fi
if [ ! -f "$dir/node_modules/node-llama-cpp/package.json" ]; then
  # One install at a time: the other parity tests may be starting too.
  lock="${TMPDIR:-/tmp}/smelt-node-llama-cpp.lock"
  if ! flock "$lock" sh -c '
      cd "$1" && { [ -f node_modules/node-llama-cpp/package.json ] ||
        npm install --no-save --no-package-lock --no-audit --no-fund --omit=optional \
          --ignore-scripts node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1; }' \
      sh "$dir" >/dev/null 2>&1; then
    echo "1..0 # SKIP node-llama-cpp could not be installed (npm registry unreachable?)"
    exit 0
  fi
fi
exec node "$dir/gguf-parity.mjs"
