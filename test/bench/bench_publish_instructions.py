#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Publish work counted, not timed (issue 15): user-space instructions and
system calls per publish+unpublish pair.

bench_publish_cost.py measures CPU time, the figure the targets are set in;
on the shared CI-class machines that time drifts by tens of percent, and even
two builds interleaved batch by batch differ by about 5 % from run to run.
Counts do not drift, so this benchmark shows what a change does to the work
itself, below that noise:

  - user-space instructions per pair, from valgrind's callgrind (every thread
    of the daemon; counting is zeroed after a warm-up of 10 pairs and dumped
    after N pairs), in all and by shared object, with the functions that cost
    the most themselves;
  - system calls per pair, from `strace -f -c` attached to a daemon that runs
    natively (not under valgrind), in all and by call. The file, directory and
    mount calls are the same in every run; futex, epoll_wait and poll vary a
    little with the threads' timing;
  - system calls per publish that Vault refuses (a role it does not know), the
    publish kubelet retries with backoff for a misconfigured pod.

valgrind 3.19 (Debian 12) does not know the new mount API (fsopen, fsmount,
move_mount, open_tree) nor openat2: under it the daemon takes its classic
back-end (MOUNT_API=classic in its first log line: libmount, and a table
parse to learn a mount's id) and checks target paths one component at a
time. The native daemon uses the new API, whose mount work is system calls
only. So the instruction count is given in all and without the functions of
lib/volume/mount.c (the cost of every call into that file from outside it),
and the second figure is the one to compare with the native daemon; the
strace run counts the native daemon's calls.

The daemon, its state-dir tmpfs and the volumes live in a private mount
namespace (the script re-executes itself under `unshare -m`); one TLS Vault
dev server on loopback serves both daemons; one KV object per volume, a new
gRPC connection per call, as in bench_publish_cost.py.

Run as root (needs valgrind and strace):
  /usr/bin/python3 test/bench/bench_publish_instructions.py [--pairs N]
      [--daemon PATH] [--baseline PATH] [--top K]
or `meson test -C build --benchmark --verbose publish-instructions`.
"""
import argparse
import collections
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from bench_publish_cost import (ONE_KV, reexec_in_private_namespace, sys_mount,  # noqa: E402
                                sys_umount)

MOUNT_MODULE = "lib/volume/mount.c"
WARMUP = 10


class Callgrind:
    """Totals of one callgrind dump (written with --compress-strings=no)."""

    def __init__(self, path):
        self.total = 0
        self.by_object = collections.Counter()
        self.by_function = collections.Counter()
        self.mount_module = 0  # inclusive cost of calls into MOUNT_MODULE from outside it
        ob = fl = fn = ""
        callee_file = None
        in_call = False
        with open(path, errors="replace") as f:
            for line in f:
                key, _, value = line.partition("=")
                if key in ("ob", "fl", "fn", "cfi", "cfl", "calls"):
                    value = value.strip()
                    if key == "ob":
                        ob = value
                    elif key == "fl":
                        fl = value
                    elif key == "fn":
                        fn, callee_file = value, None
                    elif key in ("cfi", "cfl"):
                        callee_file = value
                    else:
                        in_call = True
                    continue
                if not line[:1].isdigit() and line[:1] not in "+-*":
                    continue
                parts = line.split()
                if len(parts) < 2:
                    continue
                cost = int(parts[1])
                if in_call:  # the inclusive cost of the call just named
                    into = (callee_file or fl).endswith(MOUNT_MODULE)
                    if into and not fl.endswith(MOUNT_MODULE):
                        self.mount_module += cost
                    in_call, callee_file = False, None
                    continue
                self.total += cost
                self.by_object[os.path.basename(ob)] += cost
                self.by_function[(fn, os.path.basename(ob))] += cost


def wrapper(tmp, binary, out):
    w = pathlib.Path(tmp) / "under-callgrind"
    w.write_text("#!/bin/sh\nexec valgrind -q --tool=callgrind --compress-strings=no "
                 "--compress-pos=no --callgrind-out-file=%s %s \"$@\"\n" % (out, binary))
    w.chmod(0o755)
    return str(w)


def start_daemon(root, binary, vault):
    import vmtest

    state = root / "state"
    pods = root / "pods"
    state.mkdir()
    pods.mkdir()
    sys_mount("tmpfs", str(state), "tmpfs", 0, "size=64m,mode=0700")
    vmtest.DAEMON = binary
    d = vmtest.Daemon(root, args=["--state-dir=%s" % state, "--target-roots=%s" % pods,
                                  "--log-level=info"] + vault.daemon_args())
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
    try:
        d.start(timeout=180)
    except BaseException:
        sys_umount(str(state))
        raise
    return d, pods


def remove_root(root):
    """Everything a measurement had under root (its daemon stopped)."""
    sys_umount(str(root / "state"))
    shutil.rmtree(root)


def pairs(d, pods, vault, n):
    """n publish+unpublish pairs; the requests are built before the first one."""
    from test_publish import Pod

    attrs = {"roleName": "demo", "objects": ONE_KV}
    todo = []
    for _ in range(n):
        p = Pod(pods)
        todo.append((p.publish_request(vault, attrs), p.unpublish_request()))
    return lambda: [(d.call("NodePublishVolume", pub), d.call("NodeUnpublishVolume", un))
                    for pub, un in todo]


def refused(d, pods, vault, n):
    """n publishes that Vault refuses (a role it does not know): each must fail."""
    import vmtest
    from test_publish import Pod

    attrs = {"roleName": "no-such-role", "objects": ONE_KV}
    todo = [Pod(pods).publish_request(vault, attrs) for _ in range(n)]

    def run():
        for req in todo:
            try:
                d.call("NodePublishVolume", req)
            except vmtest.CallError:
                continue
            raise AssertionError("a publish with an unknown role succeeded")
    return run


def strace_count(d, run, table):
    """System calls of the daemon's threads while run() runs, by name."""
    tr = subprocess.Popen(["strace", "-f", "-c", "-o", str(table), "-p", str(d.proc.pid)],
                          stderr=subprocess.PIPE)
    tr.stderr.readline()  # "strace: Process N attached": tracing from here on
    run()
    tr.send_signal(signal.SIGINT)
    tr.wait(timeout=60)
    calls = collections.Counter()
    for line in table.read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def count_instructions(tmp, binary, vault, n):
    root = pathlib.Path(tempfile.mkdtemp(prefix="cg-", dir=tmp))
    out = str(root / "callgrind.out")
    d, pods = start_daemon(root, wrapper(root, binary, out), vault)
    try:
        try:
            pairs(d, pods, vault, WARMUP)()
            run = pairs(d, pods, vault, n)
            subprocess.run(["callgrind_control", "--zero", str(d.proc.pid)], check=True,
                           capture_output=True)
            run()
            subprocess.run(["callgrind_control", "--dump", str(d.proc.pid)], check=True,
                           capture_output=True)
            classic = "MOUNT_API=classic" in d.log
        finally:
            d.stop()
        dumps = sorted(root.glob("callgrind.out.*"))
        if len(dumps) != 1:
            raise AssertionError("expected one callgrind dump, found %d" % len(dumps))
        return Callgrind(str(dumps[0])), classic
    finally:
        remove_root(root)


def count_syscalls(tmp, binary, vault, n):
    """System calls per pair, and per publish that Vault refuses."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="st-", dir=tmp))
    d, pods = start_daemon(root, binary, vault)
    try:
        try:
            pairs(d, pods, vault, WARMUP)()
            refused(d, pods, vault, WARMUP)()
            calls = strace_count(d, pairs(d, pods, vault, n), root / "pairs.txt")
            calls_refused = strace_count(d, refused(d, pods, vault, n), root / "refused.txt")
            native = "MOUNT_API=new" in d.log
        finally:
            d.stop()
        return calls, calls_refused, native
    finally:
        remove_root(root)


def report(label, binary, cg, classic, calls, calls_refused, native, n, top):
    outside = cg.total - cg.mount_module
    print("%sdaemon: %s" % (label, binary))
    print("  user-space instructions per pair (callgrind, %d pairs): %d in all, %d without "
          "%s (%.1f %% of all%s)"
          % (n, cg.total / n, outside / n, MOUNT_MODULE, 100.0 * cg.mount_module / cg.total,
             "; classic mount back-end under valgrind" if classic else ""))
    print("    by object: " + ", ".join("%s %.1f %%" % (o, 100.0 * c / cg.total)
                                        for o, c in cg.by_object.most_common(8)))
    print("    costliest functions (their own instructions per pair):")
    for (fn, ob), c in cg.by_function.most_common(top):
        print("      %8d  %s (%s)" % (c / n, fn[:80], ob))
    total = sum(calls.values())
    print("  system calls per pair (strace -f -c, native%s, %d pairs): %.1f; %s"
          % ("" if native else " BUT NOT ON THE NEW MOUNT API", n, total / n,
             ", ".join("%s %.1f" % (k, v / n) for k, v in calls.most_common(top))))
    refused_total = sum(calls_refused.values())
    print("  system calls per publish that Vault refuses (unknown role, %d publishes): %.1f; %s"
          % (n, refused_total / n,
             ", ".join("%s %.1f" % (k, v / n) for k, v in calls_refused.most_common(top))))
    return {"instr": cg.total / n, "instr_outside": outside / n, "syscalls": total / n,
            "calls": calls, "refused": refused_total / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--daemon", default=None, help="vaultmountd binary (default: the build's)")
    ap.add_argument("--baseline", default=None,
                    help="a second vaultmountd binary (say, the previous commit's), counted "
                         "the same way; the summary prints the ratios")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    reexec_in_private_namespace(__file__)
    for tool in ("valgrind", "callgrind_control", "strace"):
        if not shutil.which(tool):
            sys.exit("bench_publish_instructions: %s is not installed (apt-get install "
                     "valgrind strace)" % tool)

    from vaultenv import VaultDev
    import vmtest
    daemons = [("", a.daemon or vmtest.DAEMON)] + ([("baseline ", a.baseline)]
                                                   if a.baseline else [])
    tmp = tempfile.mkdtemp(prefix="vm-bench-instr-")
    vault = VaultDev(tmp, extra_args=["--quiet"])
    results = {}
    try:
        for label, binary in daemons:
            cg, classic = count_instructions(tmp, binary, vault, a.pairs)
            calls, calls_refused, native = count_syscalls(tmp, binary, vault, a.pairs)
            results[label] = report(label, binary, cg, classic, calls, calls_refused, native,
                                    a.pairs, a.top)
    finally:
        vault.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if a.baseline:
        new, base = results[""], results["baseline "]
        print("daemon / baseline: instructions %.3fx in all, %.3fx without %s; system calls "
              "%.3fx (%+.1f per pair)"
              % (new["instr"] / base["instr"], new["instr_outside"] / base["instr_outside"],
                 MOUNT_MODULE, new["syscalls"] / base["syscalls"],
                 new["syscalls"] - base["syscalls"]))
        print("  per publish that Vault refuses: system calls %.3fx (%+.1f)"
              % (new["refused"] / base["refused"], new["refused"] - base["refused"]))
        diff = {k: (new["calls"][k] - base["calls"][k]) / a.pairs
                for k in set(new["calls"]) | set(base["calls"])}
        moved = sorted((k for k in diff if abs(diff[k]) >= 0.5), key=lambda k: diff[k])
        print("  system calls that changed by half a call per pair or more: "
              + (", ".join("%s %+.1f" % (k, diff[k]) for k in moved) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
