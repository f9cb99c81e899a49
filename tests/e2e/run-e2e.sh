#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# run-e2e.sh BUILD_DIR: runs e2e.py under a private X server and session bus (xvfb-run outside
# dbus-run-session, as testing.md says), or prints a TAP skip when those tools or AT-SPI's Python
# bindings are missing.
here=$(dirname "$0")
for tool in xvfb-run dbus-run-session /usr/bin/import; do
  command -v "$tool" >/dev/null 2>&1 || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
if ! /usr/bin/python3 -c "import gi; gi.require_version('Atspi', '2.0')" 2>/dev/null; then
  echo "1..0 # SKIP python3-gi with Atspi 2.0 is not installed"
  exit 0
fi
# No session bus of the caller must leak in: the app and AT-SPI get a fresh one.
unset DBUS_SESSION_BUS_ADDRESS AT_SPI_BUS_ADDRESS
# The AT-SPI registry prints a banner on stdout: keep TAP clean by commenting out non-TAP lines.
out=$(mktemp)
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
  /usr/bin/python3 "$here/e2e.py" "$1" >"$out" 2>&1
rc=$?
sed -E '/^(ok |not ok |1\.\.|#)/!s/^/# /' "$out"
rm -f "$out"
exit $rc
