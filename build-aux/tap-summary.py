#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Counts every TAP subtest in meson's testlog.json files and prints `N passed, N failed, N skipped`.

meson counts test binaries; CI needs subtests. A binary that crashed or timed out after its last
TAP line counts as one more failure, and so does every planned subtest it never reached.
"""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        print(f"tap-summary: {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        entry = json.loads(line)
        p = fl = sk = 0
        plan = None
        for t in (entry.get("stdout") or "").splitlines():
            m = re.match(r"^1\.\.(\d+)", t)
            if m:
                plan = int(m.group(1))
                continue
            if re.match(r"^not ok\b", t):
                if re.search(r"#\s*TODO", t, re.I):
                    sk += 1
                else:
                    fl += 1
                    failures.append(f"{entry['name']}: {t}")
            elif re.match(r"^ok\b", t):
                if re.search(r"#\s*SKIP", t, re.I):
                    sk += 1
                else:
                    p += 1
        seen = p + fl + sk
        if plan is not None and seen < plan:
            fl += plan - seen
            failures.append(f"{entry['name']}: {plan - seen} planned subtests never ran")
        if entry.get("result") not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
            fl += 1
            failures.append(f"{entry['name']}: {entry.get('result')} (exit {entry.get('returncode')})")
        if entry.get("result") == "SKIP" and seen == 0:
            sk += 1
        passed += p
        failed += fl
        skipped += sk

for f in failures:
    print(f"FAILED: {f}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
