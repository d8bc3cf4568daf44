# SPDX-License-Identifier: Apache-2.0
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import vmtest  # noqa: E402


@pytest.fixture
def daemons(tmp_path):
    """Factory for daemons; at teardown every daemon is stopped and must have
    exited cleanly (0, or the code the test expected) with no sanitizer report."""
    started = []

    def make(args=(), env=None, name=None, start=True, expect_exit=0):
        d = vmtest.Daemon(tmp_path, args=args, env=env, name=name or "d%d" % len(started))
        d.expect_exit = expect_exit
        started.append(d)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in started:
        if d.proc is None:
            continue
        if d.proc.poll() is None:
            d.stop()
        else:
            d.wait()
        if d.expect_exit is not None and d.returncode != d.expect_exit:
            problems.append("%s exited %s, expected %s" % (d.dir, d.returncode, d.expect_exit))
        report = d.sanitizer_report()
        if report:
            problems.append("%s: sanitizer reported %s:\n%s" % (d.dir, report, d.log[-4000:]))
    assert not problems, "\n".join(problems)
