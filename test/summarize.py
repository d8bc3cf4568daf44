#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Sums test results over meson test logs (meson-logs/<logbase>.json).

Each meson test is counted by what its runner reported: Check's
"Checks: N, Failures: F, Errors: E", pytest's "N passed, M failed", or, for
other programs, 1 passed/failed by meson's verdict. A test meson failed whose
output shows no failure (a sanitizer report at exit, a crash, a timeout)
adds one failure. With CI=true, skips count as failures: nothing may skip
silently. Prints a table and, last, "N passed, N failed".
"""
import json
import os
import re
import sys

CHECK_RE = re.compile(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")
PYTEST_RE = re.compile(r"=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s")


def count(entry):
    out = entry.get("stdout") or ""
    err = entry.get("stderr") or ""
    result = entry.get("result")
    passed = failed = skipped = 0
    found = False
    for m in CHECK_RE.finditer(out + "\n" + err):
        found = True
        checks, failures, errors = int(m.group(2)), int(m.group(3)), int(m.group(4))
        passed += checks - failures - errors
        failed += failures + errors
    if not found:
        for m in PYTEST_RE.finditer(out):
            found = True
            for num, word in re.findall(r"(\d+) (\w+)", m.group(1)):
                n = int(num)
                if word == "passed":
                    passed += n
                elif word in ("failed", "error", "errors"):
                    failed += n
                elif word == "skipped":
                    skipped += n
                elif word in ("xfailed", "xpassed"):
                    failed += n
    if not found:
        if result == "OK":
            passed = 1
        elif result == "SKIP":
            skipped = 1
        else:
            failed = 1
    elif result not in ("OK", "SKIP") and failed == 0:
        failed = 1
    return passed, failed, skipped


def main(paths):
    ci = os.environ.get("CI") == "true"
    total_p = total_f = total_s = 0
    missing = 0
    for path in paths:
        if not os.path.exists(path):
            print("summary: %s: missing (stage did not run)" % path)
            missing += 1
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                e = json.loads(line)
                p, fl, s = count(e)
                total_p += p
                total_f += fl
                total_s += s
                print("summary: %-10s %-42s %-8s %4d passed %3d failed %3d skipped" % (
                    os.path.basename(path).rsplit(".", 1)[0], e.get("name", "?")[:42],
                    e.get("result"), p, fl, s))
    total_f += missing
    if ci and total_s:
        print("summary: %d skipped tests count as failures under CI=true" % total_s)
        total_f += total_s
        total_s = 0
    line = "%d passed, %d failed" % (total_p, total_f)
    if total_s:
        line += ", %d skipped" % total_s
    print(line)
    return 0 if total_f == 0 and total_p > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
