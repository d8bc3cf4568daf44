#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Publish benchmark: prints what it measures (targets live in docs/development.md).

- NodePublishVolume latency p50/p99: one KV object, TLS to the Vault dev
  server on loopback, a new connection per call as kubelet does (each publish
  is followed by an unpublish, not timed);
- wall time of 100 concurrent publishes;
- daemon RSS and anonymous memory (smaps_rollup) idle and with 110 volumes
  mounted (the tmpfs pages of the files are charged to the daemon's cgroup,
  not to its RSS: reported separately as the bytes written);
- the metrics endpoint (issue 11) is on throughout: 100 concurrent publishes
  without scrapes, with a scrape every 50 ms, and with two threads scraping
  back to back, in alternating rounds (median wall of each), and the scrape
  time with 110 volumes published.

Run as root: `meson test -C build --benchmark --verbose` or
`/usr/bin/python3 test/bench/bench_publish.py [N]`.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import vmtest  # noqa: E402
from vaultenv import VaultDev  # noqa: E402
from test_publish import Pod, mounts_under  # noqa: E402

ONE_KV = "- objectName: password\n  secretPath: secret/data/myapp/config\n  secretKey: password\n"


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Private_Dirty:", "Anonymous:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=30) as r:
        return r.read().decode()


def burst(d, pods_dir, vault, attrs, tag):
    """100 concurrent publishes (timed), then their unpublishes (not timed)."""
    pods = [Pod(pods_dir, name="%s%d" % (tag, i)) for i in range(100)]
    reqs = [p.publish_request(vault, attrs) for p in pods]
    errors = []

    def run(r):
        try:
            d.call("NodePublishVolume", r, timeout=120)
        except vmtest.CallError as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=(r,)) for r in reqs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for p in pods:
        d.call("NodeUnpublishVolume", p.unpublish_request())
    return wall, len(errors)


def scrapes_vs_publishes(d, pods_dir, vault, attrs, port, rounds=4):
    """Alternating rounds of 100 concurrent publishes: without scrapes; with one
    scraper every 50 ms (20/s, hundreds of times Prometheus' usual 15-30 s); and
    with two threads scraping back to back (a stress case: their CPU competes
    with the daemon's on 2 cores)."""
    modes = (("none", 0, None), ("paced", 1, 0.05), ("hammer", 2, 0))
    walls = {m[0]: [] for m in modes}
    scrape_ms = {m[0]: [] for m in modes}
    n_errors = 0
    for i in range(rounds):
        for name, n_threads, pause in modes:
            stop = threading.Event()

            def scraper(name=name, pause=pause):
                while not stop.is_set():
                    t0 = time.perf_counter()
                    scrape(port)
                    scrape_ms[name].append((time.perf_counter() - t0) * 1000)
                    if pause:
                        stop.wait(pause)
            scrapers = [threading.Thread(target=scraper) for _ in range(n_threads)]
            for t in scrapers:
                t.start()
            wall, errors = burst(d, pods_dir, vault, attrs, "s%d%s" % (i, name))
            stop.set()
            for t in scrapers:
                t.join()
            walls[name].append(wall)
            n_errors += errors
    for name, _, _ in modes:
        ms = scrape_ms[name]
        print("100 concurrent publishes, metrics endpoint on, scrapes: %-6s median %.3f s "
              "over %d rounds (%s)%s" % (
                  name, statistics.median(walls[name]), rounds,
                  ", ".join("%.3f" % w for w in walls[name]),
                  "; %d scrapes, p50 %.2f ms, p99 %.2f ms" % (len(ms), pct(ms, 50), pct(ms, 99))
                  if ms else ""))
    print("publish errors in these rounds: %d" % n_errors)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    tmp = tempfile.mkdtemp(prefix="vm-bench-publish-")
    import pathlib
    pods_dir = pathlib.Path(tmp) / "kubelet" / "pods"
    pods_dir.mkdir(parents=True)
    state = pathlib.Path(tmp) / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(state)],
                   check=True)
    vault = VaultDev(tmp, extra_args=["--quiet"])
    d = vmtest.Daemon(tmp, args=["--state-dir=%s" % state, "--target-roots=%s" % pods_dir,
                                 "--log-level=info", "--workers=4",
                                 "--metrics-address=127.0.0.1:0"] + vault.daemon_args(),
                      name="node")
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
    try:
        d.start()
        port = int(re.search(r"METRICS_PORT=(\d+)",
                             d.wait_for_log(r"METRICS_PORT=\d+")).group(1))
        attrs = {"roleName": "demo", "objects": ONE_KV}
        # warm-up
        for _ in range(5):
            p = Pod(pods_dir)
            d.call("NodePublishVolume", p.publish_request(vault, attrs))
            d.call("NodeUnpublishVolume", p.unpublish_request())
        lat = []
        for _ in range(n):
            p = Pod(pods_dir)
            req = p.publish_request(vault, attrs)
            t0 = time.perf_counter()
            d.call("NodePublishVolume", req)
            lat.append((time.perf_counter() - t0) * 1000)
            d.call("NodeUnpublishVolume", p.unpublish_request())
        print("publish latency, 1 KV object over TLS, %d calls (new connection each): "
              "p50 %.2f ms, p99 %.2f ms, mean %.2f ms" % (n, pct(lat, 50), pct(lat, 99),
                                                         statistics.mean(lat)))
        time.sleep(1)
        idle = smaps(d.proc.pid)
        print("memory idle (metrics endpoint on): RSS %d KiB, Anonymous %d KiB, Private_Dirty "
              "%d KiB" % (idle["Rss"], idle["Anonymous"], idle["Private_Dirty"]))

        pods = [Pod(pods_dir, name="c%d" % i) for i in range(100)]
        reqs = [p.publish_request(vault, attrs) for p in pods]
        errors = []

        def run(r):
            try:
                d.call("NodePublishVolume", r, timeout=120)
            except vmtest.CallError as e:
                errors.append(e)
        threads = [threading.Thread(target=run, args=(r,)) for r in reqs]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        print("100 concurrent publishes: %.3f s wall (%d errors)" % (wall, len(errors)))
        more = [Pod(pods_dir, name="m%d" % i) for i in range(10)]
        for p in more:
            d.call("NodePublishVolume", p.publish_request(vault, attrs))
        lat = []
        for _ in range(50):
            t0 = time.perf_counter()
            text = scrape(port)
            lat.append((time.perf_counter() - t0) * 1000)
        print("scrape with 110 volumes published: %d bytes, %d expiry series, p50 %.2f ms, "
              "p99 %.2f ms" % (len(text), text.count(
                  "\nvaultmount_volume_secret_expiry_timestamp_seconds{"), pct(lat, 50),
                  pct(lat, 99)))
        time.sleep(1)
        full = smaps(d.proc.pid)
        written = sum(os.path.getsize(p.target / "password") for p in pods + more)
        print("memory with 110 volumes mounted: RSS %d KiB, Anonymous %d KiB, Private_Dirty "
              "%d KiB (+%d KiB anonymous over idle); secret bytes on the tmpfs mounts: %d" % (
                  full["Rss"], full["Anonymous"], full["Private_Dirty"],
                  full["Anonymous"] - idle["Anonymous"], written))
        for p in pods + more:
            d.call("NodeUnpublishVolume", p.unpublish_request())
        print("live Vault tokens after unpublishing everything: %d" % len(vault.live_tokens()))
        # last, so the memory figures above are those of the usual run
        scrapes_vs_publishes(d, pods_dir, vault, attrs, port)
    finally:
        d.stop()
        vault.stop()
        for mp in sorted(mounts_under(tmp), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
