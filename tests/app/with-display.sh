#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# with-display.sh PROGRAM ARGS...: runs an in-process GTK test with a display. Uses the session's
# display when there is one, else a private Xvfb (xvfb-run -a); without either, the test is
# skipped as a whole in TAP rather than failing on "cannot open display".
if [ -n "$DISPLAY" ] || [ -n "$WAYLAND_DISPLAY" ]; then
  exec "$@"
fi
if command -v xvfb-run >/dev/null 2>&1; then
  GDK_BACKEND=x11 GSK_RENDERER=cairo
  export GDK_BACKEND GSK_RENDERER
  exec xvfb-run -a -s "-screen 0 1280x800x24" "$@"
fi
echo "1..0 # SKIP no display and no xvfb-run"
