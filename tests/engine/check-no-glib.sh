#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Proves the engine stays plain C: no GLib/GTK header is included anywhere under src/engine, and
# the engine's own sources compile with a bare compiler that has no GLib include path at all.
dir=$1
echo "1..2"
if grep -rnE '#include *[<"](glib|gio|gtk|gobject|adwaita)' "$dir" >/dev/null; then
  echo "not ok 1 - src/engine includes a GLib-family header"
  grep -rnE '#include *[<"](glib|gio|gtk|gobject|adwaita)' "$dir" | sed 's/^/# /'
else
  echo "ok 1 - no GLib-family include under src/engine"
fi
tmp=$(mktemp -d)
fail=0
for f in "$dir"/*.c; do
  if ! ${CC:-cc} -std=gnu11 -D_GNU_SOURCE -fsyntax-only -I"$dir" "$f" 2>"$tmp/err"; then
    fail=1
    sed "s|^|# |" "$tmp/err"
  fi
done
rm -rf "$tmp"
if [ $fail -eq 0 ]; then
  echo "ok 2 - every engine source compiles without any GLib include path"
else
  echo "not ok 2 - an engine source needs more than libc"
fi
