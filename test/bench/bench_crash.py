#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The fault campaign's figures: runs the crash, shutdown and hostile-input
suites against the real daemon (kill -9 before every publish step and during
unpublish, SIGTERM with Vault hanging, NUL and control characters, echoes,
oversized attributes) ROUNDS times and prints the cases tried, the faults
survived and the leftovers found (every case asserts none: no mount, no state
dir, no live Vault token or lease).

Run as root: `/usr/bin/python3 test/bench/bench_crash.py [ROUNDS]` or
`meson test -C build --benchmark --verbose crash`."""
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = ["test_crash.py", "test_shutdown_grace.py", "test_untrusted_input.py"]


def run_round(junit):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "--junitxml=" + junit] + [os.path.join(HERE, "..", "integration", s) for s in SUITES]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    root = ET.parse(junit).getroot()
    cases = failed = 0
    names = []
    for tc in root.iter("testcase"):
        cases += 1
        bad = tc.find("failure") is not None or tc.find("error") is not None
        failed += bad
        if bad:
            names.append(tc.get("name"))
    return cases, failed, names


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    total = bad = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            c, f, names = run_round(os.path.join(tmp, "r%d.xml" % i))
            total += c
            bad += f
            if names:
                print("round %d: cases with leftovers or errors: %s" % (i + 1, ", ".join(names)))
    print("fault campaign: %d rounds, %d cases tried, %d faults survived, %d with leftovers "
          "(must be 0), %.0f s" % (rounds, total, total - bad, bad, time.monotonic() - t0))
    return 0 if bad == 0 and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
