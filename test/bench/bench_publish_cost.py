#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Publish cost benchmark: daemon CPU per publish+unpublish pair and per
volume refresh, flat in the node's mount count (issue 15). Prints what it
measures; the targets and the figures are in docs/development.md "Benchmarks".

Everything runs in a private mount namespace (the script re-executes itself
under `unshare -m --propagation private`): the daemon, its state-dir tmpfs,
the volumes and the unrelated tmpfs mounts that fill the table never reach
the host's table, and all of them end with the namespace even if this
script is killed; they are also unmounted explicitly on the way out.

For each load (EXTRA unrelated tmpfs mounts, default 20 and 1000), each round
starts a fresh daemon (TLS Vault dev server on loopback, one KV object per
volume, a new gRPC connection per call as kubelet does) and measures:

  - pairs (the node's default settings): N publish+unpublish pairs, one after
    the other; daemon CPU per pair
    is the utime+stime delta of /proc/PID/stat (every thread, also ended ones)
    over the N pairs, divided by N; publish latency p50/p99 as the client sees
    it (request built before the timer starts);
  - refresh (a second daemon): V volumes re-read every second
    (--refresh-interval=1s) for a window; daemon CPU per refresh is the CPU delta over the window divided by
    the KV reads the dev server counted in it.

The rounds alternate the loads (and their order); the summary prints the median and the spread
(min..max) of the rounds, the 1000/20 ratios, and the publish p50 against the
reference driver's figure, which is CARRIED from issue 15 (not measured here:
the Go host-path driver cannot be built on this machine).

It also measures, in every round, what bounds the publish p50 from below and
is not the daemon's own work, so that the ratio to the reference can be read:
  - the connection floor: Probe (no work at all) over a new connection per
    call, from the same client, p50, and the CPU per Probe of the daemon
    (/proc/PID/stat) and of this script (os.times(), its log readers
    included);
  - the daemon's own view: the publish handler's p50 (DURATION_MS of the
    daemon's "NodePublishVolume: OK" lines), which leaves out the client's
    channel set-up and the gRPC transport;
  - the Vault floor: the two requests a publish makes (kubernetes login with a
    pod's JWT, one KV read), made by this script over one kept-alive TLS
    connection to the same dev server, p50 of the pair.

The rounds of the two loads run minutes apart, so their ratio also holds the
machine's drift in between. A last phase therefore pairs the loads in one
daemon: batches of --load-batch pairs alternate between the lowest and the
highest load (the extra mounts beyond the lowest are made before each batch
at the highest load and removed after it), and it prints CPU per pair at
each load from the threads' schedstat run times and the batches' ratios.

With --baseline PATH (say, the previous commit's binary) every round starts
both daemons side by side (each with its own state dir) and runs their pairs
in alternating batches of --batch pairs, and the summary adds the rounds'
paired ratios: on a shared machine whose speed drifts from minute to minute,
only such pairs compare two builds. The refresh windows run one daemon at a
time.

Run as root:
  /usr/bin/python3 test/bench/bench_publish_cost.py [--pairs N] [--rounds R]
      [--extra 20,1000] [--daemon PATH] [--baseline PATH] [--batch B]
      [--refresh-volumes V] [--refresh-window S] [--load-batches K] [--load-batch N]
or `meson test -C build --benchmark --verbose publish-cost`.
"""
import argparse
import ctypes
import http.client
import json
import re
import ssl
import ctypes.util
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

# Issue 15: the Go reference host-path driver's NodePublishVolume p50, measured
# by the author on this machine type. CARRIED, not measured here.
REFERENCE_P50_MS = 13.8
REFERENCE_NOTE = ("Go reference host-path driver p50 13.8 ms: carried from issue 15 "
                  "(same machine type, independent kubelet client), not measured by this run")

PROBES = 300
ONE_KV = "- objectName: password\n  secretPath: secret/data/myapp/config\n  secretKey: password\n"
NS_MARK = "VAULTMOUNT_BENCH_PRIVATE_NS"

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MNT_DETACH = 2


def sys_mount(source, target, fstype, flags=0, data=None):
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                   data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def sys_umount(target):
    if _libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "umount %s: %s" % (target, os.strerror(e)))


def reexec_in_private_namespace(script=__file__):
    """Runs `script` again (with this process's arguments) in a private mount
    namespace, unless this process is that run."""
    if os.environ.get(NS_MARK) == "1":
        return
    if os.geteuid() != 0:
        sys.exit("%s: run as root (it mounts tmpfs in a private namespace)"
                 % os.path.basename(script))
    env = dict(os.environ)
    env[NS_MARK] = "1"
    exe = sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3"
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", exe,
                           os.path.abspath(script)] + sys.argv[1:], env)


def mount_count():
    with open("/proc/self/mountinfo") as f:
        return sum(1 for _ in f)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def cpu_ns(pid):
    """Run time of the daemon's live threads in ns (schedstat: finer than the ticks of
    /proc/PID/stat, for short batches; the daemon's threads live as long as it does)."""
    n = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                n += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended
    return n


def context_switches(pid):
    """Voluntary + involuntary context switches of the daemon's live threads."""
    n = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, task)) as f:
                n += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
        except OSError:
            pass  # a thread that ended
    return n


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


class ExtraMounts:
    """`n` unrelated tmpfs mounts under `base` (removed by close())."""

    def __init__(self, base, n):
        self.paths = []
        base.mkdir()
        try:
            for i in range(n):
                p = base / ("m%04d" % i)
                p.mkdir()
                sys_mount("tmpfs", str(p), "tmpfs", 0, "size=64k,mode=0700")
                self.paths.append(str(p))
        except BaseException:
            self.close()
            raise

    def close(self):
        while self.paths:
            sys_umount(self.paths.pop())


def run_pairs(ds, pods_dir, vault, pairs, batch):
    """`pairs` publish+unpublish pairs on every daemon of `ds` (all alive), in
    batches of `batch` that alternate between the daemons (and their order):
    with two builds, both meet the same machine noise at the same minute."""
    from test_publish import Pod

    hz = os.sysconf("SC_CLK_TCK")
    attrs = {"roleName": "demo", "objects": ONE_KV}
    acc = [{"ticks": 0, "ctxsw": 0, "lat": [], "wall": 0.0} for _ in ds]
    for d in ds:
        for _ in range(10):  # warm-up: TLS session, pools, caches
            p = Pod(pods_dir)
            d.call("NodePublishVolume", p.publish_request(vault, attrs))
            d.call("NodeUnpublishVolume", p.unpublish_request())
    done = 0
    while done < pairs:
        n = min(batch, pairs - done)
        order = list(range(len(ds)))
        if (done // batch) % 2:
            order.reverse()
        for i in order:
            d, a = ds[i], acc[i]
            todo = []
            for _ in range(n):
                p = Pod(pods_dir)
                todo.append((p.publish_request(vault, attrs), p.unpublish_request()))
            c0, x0, w0 = cpu_ticks(d.proc.pid), context_switches(d.proc.pid), time.perf_counter()
            for pub, unpub in todo:
                t0 = time.perf_counter()
                d.call("NodePublishVolume", pub)
                a["lat"].append((time.perf_counter() - t0) * 1000)
                d.call("NodeUnpublishVolume", unpub)
            a["wall"] += time.perf_counter() - w0
            a["ticks"] += cpu_ticks(d.proc.pid) - c0
            a["ctxsw"] += context_switches(d.proc.pid) - x0
        done += n
    return [{"cpu_pair_ms": a["ticks"] * 1000.0 / hz / pairs, "ctxsw_pair": a["ctxsw"] / pairs,
             "p50": pct(a["lat"], 50), "p99": pct(a["lat"], 99),
             "pairs_per_s": pairs / a["wall"]} for a in acc]


def run_refresh(d, pods_dir, vault, rv, window):
    """rv volumes re-read every second: CPU per refresh over `window` seconds."""
    from test_publish import Pod

    hz = os.sysconf("SC_CLK_TCK")
    attrs = {"roleName": "demo", "objects": ONE_KV}
    pods = [Pod(pods_dir, name="r%d" % i) for i in range(rv)]
    for p in pods:
        d.call("NodePublishVolume", p.publish_request(vault, attrs))
    time.sleep(1.5)  # past the first due time of every volume
    k0 = vault.requests_to("/v1/secret/")
    c0 = cpu_ticks(d.proc.pid)
    time.sleep(window)
    c1 = cpu_ticks(d.proc.pid)
    refreshes = vault.requests_to("/v1/secret/") - k0
    for p in pods:
        d.call("NodeUnpublishVolume", p.unpublish_request())
    return {"refreshes": refreshes,
            "cpu_refresh_ms": (c1 - c0) * 1000.0 / hz / refreshes if refreshes else float("nan")}


def run_round(tmp, paths, vault, extra, pairs, rv, window, workers, pods_tmpfs, batch):
    """One round at one load for every daemon binary of `paths`: one result each."""
    import vmtest
    from test_publish import mounts_under

    root = pathlib.Path(tempfile.mkdtemp(prefix="r-", dir=tmp))
    pods_dir = root / "kubelet" / "pods"
    pods_dir.mkdir(parents=True)
    if pods_tmpfs:
        sys_mount("tmpfs", str(pods_dir), "tmpfs", 0, "size=64m,mode=0755")
    states = []
    for i in range(len(paths)):
        states.append(root / ("state%d" % i))
        states[i].mkdir()
        sys_mount("tmpfs", str(states[i]), "tmpfs", 0, "size=64m,mode=0700")
    extras = None
    daemons = []

    def start(i, extra_args):
        vmtest.DAEMON = paths[i]
        d = vmtest.Daemon(root, args=["--state-dir=%s" % states[i],
                                      "--target-roots=%s" % pods_dir, "--log-level=info",
                                      "--workers=%d" % workers] + extra_args
                          + vault.daemon_args(), name="node%d" % len(daemons))
        d.args = [a for a in d.args
                  if not a.startswith("--state-dir=") or a.endswith(str(states[i]))]
        daemons.append(d)
        return d.start()

    try:
        extras = ExtraMounts(root / "extra", extra)
        table = mount_count()
        ds = [start(i, []) for i in range(len(paths))]  # the node's defaults
        outs = run_pairs(ds, pods_dir, vault, pairs, batch)
        for d, out in zip(ds, outs):
            out["table"] = table
            out["handler_p50"] = handler_p50(d.log)
            c0, t0 = cpu_ticks(d.proc.pid), os.times()
            out["probe_p50"] = p50_of(lambda: d.call("Probe"), PROBES)
            c1, t1 = cpu_ticks(d.proc.pid), os.times()
            out["probe_cpu"] = (c1 - c0) * 1000.0 / os.sysconf("SC_CLK_TCK") / PROBES
            out["probe_client_cpu"] = ((t1.user + t1.system) - (t0.user + t0.system)) \
                * 1000.0 / PROBES
            out["vault_p50"] = vault_floor_p50(vault, 100)
        left = [m for top in [pods_dir] + states for m in mounts_under(top) if m != str(top)]
        if left:
            raise AssertionError("mounts left after unpublishing: %s" % left[:5])
        for d in ds:
            d.stop()
        if rv > 0:  # one daemon at a time: refreshes are timer-driven
            for i, out in enumerate(outs):
                d = start(i, ["--test-refresh-interval-min=1s", "--refresh-interval=1s"])
                out.update(run_refresh(d, pods_dir, vault, rv, window))
                d.stop()
    finally:
        for d in daemons:
            if d.proc and d.proc.poll() is None:
                d.stop()
        if extras:
            extras.close()
        for mp in sorted(mounts_under(root), key=len, reverse=True):
            sys_umount(mp)
        shutil.rmtree(root, ignore_errors=True)
    for d in daemons:
        if d.sanitizer_report():
            raise AssertionError("sanitizer report in the daemon log")
    return outs


def run_loads_paired(tmp, path, vault, lo, hi, batches, per_batch, workers, pods_tmpfs):
    """CPU per pair at `lo` and at `hi` extra mounts in ONE daemon, in batches that
    alternate between the two loads (the extra mounts beyond `lo` are made before
    each `hi` batch and removed after it): the machine's drift meets both loads
    alike, which separate rounds minutes apart cannot give. Returns the per-load
    CPU per pair (ms) of every batch."""
    import vmtest
    from test_publish import Pod, mounts_under

    root = pathlib.Path(tempfile.mkdtemp(prefix="lp-", dir=tmp))
    pods_dir, state = root / "kubelet" / "pods", root / "state"
    pods_dir.mkdir(parents=True)
    state.mkdir()
    attrs = {"roleName": "demo", "objects": ONE_KV}
    out = {lo: [], hi: []}
    base = more = d = None
    try:
        if pods_tmpfs:
            sys_mount("tmpfs", str(pods_dir), "tmpfs", 0, "size=64m,mode=0755")
        sys_mount("tmpfs", str(state), "tmpfs", 0, "size=64m,mode=0700")
        base = ExtraMounts(root / "extra", lo)
        vmtest.DAEMON = path
        d = vmtest.Daemon(root, args=["--state-dir=%s" % state, "--target-roots=%s" % pods_dir,
                                      "--log-level=info", "--workers=%d" % workers]
                          + vault.daemon_args(), name="loads")
        d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
        d.start()
        for i in range(2 * batches + 1):  # the first batch warms up
            load = lo if i % 4 in (0, 3) else hi  # lo hi hi lo lo hi hi ...: each first as often
            if load == hi:
                more = ExtraMounts(root / "more", hi - lo)
            todo = []
            for _ in range(per_batch):
                p = Pod(pods_dir)
                todo.append((p.publish_request(vault, attrs), p.unpublish_request()))
            c0 = cpu_ns(d.proc.pid)
            for pub, unpub in todo:
                d.call("NodePublishVolume", pub)
                d.call("NodeUnpublishVolume", unpub)
            if i > 0:
                out[load].append((cpu_ns(d.proc.pid) - c0) / 1e6 / per_batch)
            if more:
                more.close()
                shutil.rmtree(root / "more")
                more = None
    finally:
        if d and d.proc and d.proc.poll() is None:
            d.stop()
        for m in (more, base):
            if m:
                m.close()
        for mp in sorted(mounts_under(root), key=len, reverse=True):
            sys_umount(mp)
        shutil.rmtree(root, ignore_errors=True)
    return out


def print_loads_paired(path, lo, hi, out, per_batch):
    ratios = sorted(h / l for l, h in zip(out[lo], out[hi]) if l > 0)
    print("loads paired in one daemon (%s; batches of %d pairs alternating between %d and %d "
          "extra mounts, CPU from schedstat): CPU/pair %s ms at %d, %s ms at %d; "
          "ratio %d/%d %s" % (path, per_batch, lo, hi, spread(out[lo], "%.2f"), lo,
                              spread(out[hi], "%.2f"), hi, hi, lo, spread(ratios, "%.2fx")))


def p50_of(fn, n):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        lat.append((time.perf_counter() - t0) * 1000)
    return pct(lat, 50)


def vault_floor_p50(vault, n):
    """p50 of one kubernetes login + one KV read over a kept-alive TLS connection."""
    host = vault.addr.split("//", 1)[1]
    ctx = ssl.create_default_context(cafile=vault.ca_file)
    conn = http.client.HTTPSConnection(host, context=ctx)
    jwt = vault.mint_jwt()

    def login_and_read():
        conn.request("POST", "/v1/auth/kubernetes/login",
                     body=json.dumps({"role": "demo", "jwt": jwt}))
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status != 200:
            raise AssertionError("dev server login: %d" % r.status)
        conn.request("GET", "/v1/secret/data/myapp/config",
                     headers={"X-Vault-Token": body["auth"]["client_token"]})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise AssertionError("dev server read: %d" % r.status)

    try:
        login_and_read()  # warm-up: the TLS handshake
        return p50_of(login_and_read, n)
    finally:
        conn.close()


def handler_p50(log):
    durs = [float(m) for m in re.findall(
        r'msg="NodePublishVolume: OK".*?DURATION_MS=([0-9.]+)', log)]
    return pct(durs, 50) if durs else float("nan")


def ratio(a, b):
    return a / b if b else float("nan")


def spread(values, fmt):
    return (fmt + " (" + fmt + ".." + fmt + ")") % (statistics.median(values), min(values),
                                                   max(values))


KEYS = ("cpu_pair_ms", "p50", "p99", "cpu_refresh_ms", "probe_p50", "probe_cpu",
        "probe_client_cpu", "handler_p50", "vault_p50",
        "ctxsw_pair")


def print_round(label, rnd, n, r):
    print("%sround %d, %4d extra mounts (%4d in the table): CPU/pair %.2f ms, "
          "publish p50 %.2f ms p99 %.2f ms, %.0f pairs/s; CPU/refresh %.2f ms "
          "(%d refreshes)" % (label, rnd + 1, n, r["table"], r["cpu_pair_ms"], r["p50"],
                              r["p99"], r["pairs_per_s"], r.get("cpu_refresh_ms", float("nan")),
                              r.get("refreshes", 0)), flush=True)
    print("         floors: Probe over a new connection p50 %.2f ms (CPU per Probe: "
          "daemon %.2f ms, this client %.2f ms); publish handler p50 %.2f ms (daemon's "
          "DURATION_MS); Vault login+read from this client p50 %.2f ms; daemon context "
          "switches per pair %.1f" % (
              r["probe_p50"], r["probe_cpu"], r["probe_client_cpu"], r["handler_p50"],
              r["vault_p50"], r["ctxsw_pair"]), flush=True)


def summarize(label, results, loads, rounds, pairs):
    print("summary%s, median (min..max) of %d rounds, %d pairs each:" % (label, rounds, pairs))
    med = {}
    for n in loads:
        rs = results[n]
        med[n] = {k: statistics.median([r.get(k, float("nan")) for r in rs]) for k in KEYS}
        print("  %4d extra mounts: CPU/pair %s ms; publish p50 %s ms, p99 %s ms; "
              "CPU/refresh %s ms" % (n, spread([r["cpu_pair_ms"] for r in rs], "%.2f"),
                                    spread([r["p50"] for r in rs], "%.2f"),
                                    spread([r["p99"] for r in rs], "%.2f"),
                                    spread([r.get("cpu_refresh_ms", float("nan"))
                                            for r in rs], "%.2f")))
    lo, hi = min(loads), max(loads)
    if lo != hi:
        print("  ratio %d/%d extra mounts: CPU/pair %.2fx, publish p50 %.2fx, CPU/refresh %.2fx"
              % (hi, lo, ratio(med[hi]["cpu_pair_ms"], med[lo]["cpu_pair_ms"]),
                 ratio(med[hi]["p50"], med[lo]["p50"]),
                 ratio(med[hi]["cpu_refresh_ms"], med[lo]["cpu_refresh_ms"])))
    print("  publish p50 vs the reference: %.1fx faster at %d extra mounts, %.1fx at %d (%s)" % (
        REFERENCE_P50_MS / med[lo]["p50"], lo, REFERENCE_P50_MS / med[hi]["p50"], hi,
        REFERENCE_NOTE))
    m = med[lo]
    print("  what bounds the publish p50 at %d extra mounts (medians): Probe over a new "
          "connection %.2f ms (%.1fx the reference at most, for a call that does nothing; "
          "its CPU: daemon %.2f ms, this client %.2f ms); "
          "Vault login+read %.2f ms; the two together %.2f ms = %.1fx; the handler itself "
          "%.2f ms; 5x the reference needs %.2f ms" % (
              lo, m["probe_p50"], REFERENCE_P50_MS / m["probe_p50"], m["probe_cpu"],
              m["probe_client_cpu"], m["vault_p50"],
              m["probe_p50"] + m["vault_p50"],
              REFERENCE_P50_MS / (m["probe_p50"] + m["vault_p50"]), m["handler_p50"],
              REFERENCE_P50_MS / 5))


def compare(results, base, loads):
    """Paired rounds (the two daemons alive together, same load): new / baseline."""
    print("paired with the baseline (in each round both daemons ran alternating batches), "
          "median (min..max) of the rounds' ratios, daemon / baseline:")
    for n in loads:
        for k, what in (("cpu_pair_ms", "CPU/pair"), ("p50", "publish p50"),
                        ("cpu_refresh_ms", "CPU/refresh"), ("ctxsw_pair", "context switches/pair")):
            ratios = [ratio(a.get(k, float("nan")), b.get(k, float("nan")))
                      for a, b in zip(results[n], base[n])]
            print("  %4d extra mounts: %s %s" % (n, what, spread(ratios, "%.2fx")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--extra", default="20,1000")
    ap.add_argument("--daemon", default=None, help="vaultmountd binary (default: the build's)")
    ap.add_argument("--baseline", default=None,
                    help="a second vaultmountd binary (say, the previous commit's), alive "
                         "beside --daemon in every round; their pairs run in alternating "
                         "batches, so both meet the same machine noise, and the summary adds "
                         "the paired ratios")
    ap.add_argument("--batch", type=int, default=25,
                    help="pairs per batch when two daemons alternate (default 25)")
    ap.add_argument("--refresh-volumes", type=int, default=20)
    ap.add_argument("--refresh-window", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=4, help="the daemon's --workers")
    ap.add_argument("--load-batches", type=int, default=8,
                    help="batches per load when the lowest and highest loads alternate in one "
                         "daemon (0: skip that phase)")
    ap.add_argument("--load-batch", type=int, default=100, help="pairs per such batch")
    ap.add_argument("--pods-on-tmpfs", action="store_true",
                    help="the pods dir on a tmpfs: leaves out the disk filesystem's cost of "
                         "creating and removing target directories (default: on /tmp, like "
                         "kubelet's dir on a node's disk)")
    a = ap.parse_args()
    reexec_in_private_namespace()

    from vaultenv import VaultDev
    import vmtest
    loads = [int(x) for x in a.extra.split(",")]
    daemons = [("", a.daemon or vmtest.DAEMON)] + ([("baseline ", a.baseline)]
                                                   if a.baseline else [])
    tmp = tempfile.mkdtemp(prefix="vm-bench-cost-")
    vault = VaultDev(tmp, extra_args=["--quiet"])
    results = {label: {n: [] for n in loads} for label, _ in daemons}
    try:
        for label, path in daemons:
            print("%sdaemon: %s; pods dir on %s" % (
                label, path, "a tmpfs" if a.pods_on_tmpfs else "/tmp's fs"))
        print("load: %s; %d CPUs" % (" ".join(open("/proc/loadavg").read().split()[:3]),
                                     os.cpu_count()))
        for rnd in range(a.rounds):
            # alternate the order, so that neither load (nor daemon) always runs first
            for n in (loads if rnd % 2 == 0 else loads[::-1]):
                order = daemons if rnd % 2 == 0 else daemons[::-1]
                outs = run_round(tmp, [path for _, path in order], vault, n, a.pairs,
                                 a.refresh_volumes, a.refresh_window, a.workers,
                                 a.pods_on_tmpfs, a.batch)
                for (label, _), r in zip(order, outs):
                    results[label][n].append(r)
                    print_round(label, rnd, n, r)
        lo, hi = min(loads), max(loads)
        if a.load_batches > 0 and lo != hi:
            for label, path in daemons:
                out = run_loads_paired(tmp, path, vault, lo, hi, a.load_batches, a.load_batch,
                                       a.workers, a.pods_on_tmpfs)
                print_loads_paired(path, lo, hi, out, a.load_batch)
    finally:
        vault.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print("load after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    for label, _ in daemons:
        summarize(" of the " + label.strip() if label else "", results[label], loads, a.rounds,
                  a.pairs)
    if a.baseline:
        compare(results[""], results["baseline "], loads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
