#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Memory benchmark (issue 14 "memory given back"): prints what it measures.

The daemon's anonymous memory (RssAnon from /proc/PID/status, and Anonymous from
smaps_rollup) at three points:

- fresh: right after start-up (reported, not the reference);
- idle: after a warm-up of 5 sequential and 8 concurrent publish/unpublish pairs, so that
  every worker holds what it keeps between calls (its curl handle, a kept-alive TLS
  connection to Vault): the steady state of a daemon that has served calls;
- after-burst: right after three rounds of 100 concurrent publishes (each on its own
  connection, as kubelet does) and their unpublishes, then 20 requests of about 3 MiB
  (a publish whose `objects` is over its limit: refused, but received and unpacked) and
  10 publishes with an `objects` of about 900 KiB, all unpublished again;
- after-60s: 60 s later, nothing mounted, no call in flight.

Goal: after-60s <= idle + 1 MiB. Exit status 0 when met, 1 when not, so the figure
cannot be misread. Run as root: `meson test -C build --benchmark --verbose memory`,
or `/usr/bin/python3 test/bench/bench_memory.py` (VAULTMOUNTD=... picks the binary).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import vmtest  # noqa: E402
from vaultenv import VaultDev  # noqa: E402
from test_publish import Pod, mounts_under  # noqa: E402

ONE_KV = "- objectName: password\n  secretPath: secret/data/myapp/config\n  secretKey: password\n"
SETTLE_S = 60


def anon_kib(pid):
    rss_anon = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                rss_anon = int(line.split()[1])
            if line.startswith("Threads:"):
                anon_kib.threads = int(line.split()[1])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return rss_anon, int(line.split()[1])
    return rss_anon, None


def show(what, pid):
    rss_anon, anon = anon_kib(pid)
    print("%-12s RssAnon %6d KiB (%.1f MiB), smaps Anonymous %6d KiB, %d threads" % (
        what + ":", rss_anon, rss_anon / 1024.0, anon, anon_kib.threads), flush=True)
    return rss_anon


def top_mappings(pid, n=6):
    """The mappings holding the most anonymous memory (which allocator keeps it)."""
    maps, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                cur = [parts[0], parts[5] if len(parts) > 5 else "[anon]", 0]
                maps.append(cur)
            elif parts[0] == "Anonymous:" and cur is not None:
                cur[2] = int(parts[1])
    for addr, name, kib in sorted(maps, key=lambda m: -m[2])[:n]:
        a, b = (int(x, 16) for x in addr.split("-"))
        print("    %6d KiB anonymous in %-14s (%d KiB mapping)" % (kib, name, (b - a) // 1024))


def concurrent(d, reqs, method):
    errors = []

    def run(r):
        try:
            d.call(method, r, timeout=180)
        except vmtest.CallError as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=(r,)) for r in reqs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def padded_objects(size):
    body = ONE_KV + "# "
    return body + "x" * (size - len(body) - 1) + "\n"


def main():
    tmp = tempfile.mkdtemp(prefix="vm-bench-memory-")
    pods_dir = pathlib.Path(tmp) / "kubelet" / "pods"
    pods_dir.mkdir(parents=True)
    state = pathlib.Path(tmp) / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(state)],
                   check=True)
    vault = VaultDev(tmp, extra_args=["--quiet"])
    d = vmtest.Daemon(tmp, args=["--state-dir=%s" % state, "--target-roots=%s" % pods_dir,
                                 "--log-level=info"] + vault.daemon_args(), name="node")
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
    attrs = {"roleName": "demo", "objects": ONE_KV}
    try:
        d.start()
        pid = d.proc.pid
        time.sleep(1)
        show("fresh", pid)
        for _ in range(5):
            p = Pod(pods_dir)
            d.call("NodePublishVolume", p.publish_request(vault, attrs))
            d.call("NodeUnpublishVolume", p.unpublish_request())
        warm = [Pod(pods_dir, name="w%d" % i) for i in range(8)]
        concurrent(d, [p.publish_request(vault, attrs) for p in warm], "NodePublishVolume")
        concurrent(d, [p.unpublish_request() for p in warm], "NodeUnpublishVolume")
        # the same quiet time the daemon gets after the burst, so both are trimmed alike
        time.sleep(SETTLE_S)
        idle = show("idle", pid)

        for rnd in range(3):
            pods = [Pod(pods_dir, name="r%d-%d" % (rnd, i)) for i in range(100)]
            errs = concurrent(d, [p.publish_request(vault, attrs) for p in pods],
                              "NodePublishVolume")
            errs += concurrent(d, [p.unpublish_request() for p in pods], "NodeUnpublishVolume")
            show("round %d" % (rnd + 1), pid)
            if errs:
                print("  %d calls failed: %s" % (len(errs), errs[0]))
        big = {"roleName": "demo", "objects": padded_objects(3 * 1024 * 1024)}
        refused = 0
        for i in range(20):
            p = Pod(pods_dir, name="big-%d" % i)
            try:
                d.call("NodePublishVolume", p.publish_request(vault, big), timeout=60)
                d.call("NodeUnpublishVolume", p.unpublish_request())
            except vmtest.CallError:
                refused += 1
        show("after 3 MiB", pid)
        large = {"roleName": "demo", "objects": padded_objects(900 * 1024)}
        for i in range(10):
            p = Pod(pods_dir, name="large-%d" % i)
            d.call("NodePublishVolume", p.publish_request(vault, large), timeout=60)
            d.call("NodeUnpublishVolume", p.unpublish_request())
        print("(20 requests of 3 MiB: %d refused; 10 publishes of 900 KiB objects)" % refused)
        after = show("after-burst", pid)
        if os.environ.get("BENCH_MEMORY_MAPS"):
            top_mappings(pid)
        left = mounts_under(pods_dir) + [m for m in mounts_under(state) if m != str(state)]
        assert not left, left
        time.sleep(SETTLE_S)
        settled = show("after-%ds" % SETTLE_S, pid)
        if os.environ.get("BENCH_MEMORY_MAPS"):
            top_mappings(pid)
        goal = idle + 1024
        print("idle %d KiB, after-burst %d KiB, after-%ds %d KiB: %+d KiB over idle "
              "(goal: at most +1024 KiB) -> %s" % (idle, after, SETTLE_S, settled,
                                                   settled - idle,
                                                   "met" if settled <= goal else "NOT met"))
        return 0 if settled <= goal else 1
    finally:
        d.stop()
        vault.stop()
        # the state tmpfs too: it is under tmp
        for mp in sorted(mounts_under(tmp), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
