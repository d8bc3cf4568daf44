# SPDX-License-Identifier: Apache-2.0
"""Publish and unpublish on a node with many unrelated mounts (issue 15).

Run by test_publish.py as
  unshare --mount --propagation private /usr/bin/python3 many_mounts.py TMPDIR API [N]
so the N (default 1000) unrelated tmpfs mounts, the daemon's state dir and the
volumes live in a private mount namespace: the host's table never sees them,
and they end with the namespace whatever happens. Exits 0 after printing
"many-mounts check passed"; any failed check raises (exit 1).

Checks, with the daemon on mount-api API ("auto" or "classic"):
  - the daemon reports the expected back-end at startup;
  - sequential and concurrent publish/unpublish: files readable, the bind
    read-only, nothing left mounted under the pods dir or the state dir;
  - a publish that fails after its tmpfs was mounted leaves nothing;
  - a mount someone else stacked on a published target is never unmounted:
    unpublish answers FAILED_PRECONDITION and both mounts stay, until that
    mount is gone;
  - every unrelated mount is still there, untouched; no Vault token is left.
"""
import ctypes
import ctypes.util
import errno
import os
import pathlib
import subprocess
import sys
import threading

import grpc

import vmtest
from vaultenv import VaultDev

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MNT_DETACH = 2
ONE_KV = "- objectName: password\n  secretPath: secret/data/myapp/config\n  secretKey: password\n"


def sys_mount(target, data="size=64k,mode=0700"):
    if _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", ctypes.c_ulong(0),
                   data.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s: %s" % (target, os.strerror(e)))


def sys_umount(target):
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "umount %s: %s" % (target, os.strerror(e)))


def mountinfo():
    """(id, mount point) of every mount, in table order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            out.append((int(parts[0]), parts[4].replace("\\040", " ")))
    return out


def under(path):
    p = str(path)
    return [m for _, m in mountinfo() if m == p or m.startswith(p + "/")]


def check(tmp, api, n_extra):
    from test_publish import Pod  # the same requests as the publish tests

    tmp = pathlib.Path(tmp)
    extra_dir, pods_dir, state = tmp / "extra", tmp / "kubelet" / "pods", tmp / "state"
    for p in (extra_dir, pods_dir, state):
        p.mkdir(parents=True)
    sys_mount(state, "size=16m,mode=0700")
    for i in range(n_extra):
        m = extra_dir / ("m%04d" % i)
        m.mkdir()
        sys_mount(m)
    extra_before = [(i, m) for i, m in mountinfo() if m.startswith(str(extra_dir) + "/")]
    assert len(extra_before) == n_extra

    vault = VaultDev(tmp)
    d = vmtest.Daemon(tmp, args=["--state-dir=%s" % state, "--target-roots=%s" % pods_dir,
                                 "--log-level=debug", "--mount-api=%s" % api]
                      + vault.daemon_args(), name="node")
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
    attrs = {"roleName": "demo", "objects": ONE_KV}
    try:
        line = d.start().wait_for_log(r"serving driver")
        want = "new" if api == "auto" else api
        assert "MOUNT_API=%s" % want in line, line

        def cycle(p):
            d.call("NodePublishVolume", p.publish_request(vault, attrs), timeout=60)
            assert (p.target / "password").read_text() == "s3cr3t-demo"
            try:
                (p.target / "x").write_text("no")
                raise AssertionError("the bind is writable")
            except OSError as e:
                assert e.errno == errno.EROFS, e
            d.call("NodeUnpublishVolume", p.unpublish_request(), timeout=60)
            assert not p.target.exists()

        for i in range(20):
            cycle(Pod(pods_dir, name="s%d" % i))
        errors = []

        def worker(k):
            try:
                for i in range(5):
                    cycle(Pod(pods_dir, name="c%d-%d" % (k, i)))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        assert not errors, errors[:3]

        # a failure after the tmpfs was mounted: rolled back by identity
        p = Pod(pods_dir, name="fail")
        try:
            d.call("NodePublishVolume", p.publish_request(
                vault, {"roleName": "demo",
                        "objects": "- objectName: x\n  secretPath: secret/data/myapp/nope\n"}))
            raise AssertionError("publish of a missing secret succeeded")
        except vmtest.CallError as e:
            assert e.code == grpc.StatusCode.NOT_FOUND, e
        assert under(pods_dir) == [] and under(state) == [str(state)], (under(pods_dir),
                                                                       under(state))

        # someone else's mount on top of our bind: never unmounted by us
        p = Pod(pods_dir, name="stacked")
        d.call("NodePublishVolume", p.publish_request(vault, attrs))
        sys_mount(p.target, "size=32k")
        foreign = [i for i, m in mountinfo() if m == str(p.target)][-1]
        try:
            d.call("NodeUnpublishVolume", p.unpublish_request())
            raise AssertionError("unpublish unmounted a mount it did not make")
        except vmtest.CallError as e:
            assert e.code == grpc.StatusCode.FAILED_PRECONDITION, e
            assert "not the one vaultmount made" in e.details, e.details
        stacked = [i for i, m in mountinfo() if m == str(p.target)]
        assert len(stacked) == 2 and stacked[-1] == foreign, stacked
        sys_umount(p.target)
        d.call("NodeUnpublishVolume", p.unpublish_request())
        assert not p.target.exists()

        assert under(pods_dir) == [], under(pods_dir)
        assert under(state) == [str(state)], under(state)
        extra_after = [(i, m) for i, m in mountinfo() if m.startswith(str(extra_dir) + "/")]
        assert extra_after == extra_before, "an unrelated mount changed"
        assert vault.live_tokens() == [], vault.live_tokens()
        assert d.stop() == 0
        assert not d.sanitizer_report(), d.sanitizer_report()
    finally:
        if d.proc and d.proc.poll() is None:
            d.stop()
        vault.stop()
        for m in sorted(under(tmp), key=len, reverse=True):
            sys_umount(m)
    print("many-mounts check passed (mount-api %s, %d unrelated mounts)" % (api, n_extra))
    return 0


if __name__ == "__main__":
    if os.environ.get("VAULTMOUNT_TEST_PRIVATE_NS") != "1":
        sys.exit("many_mounts.py: run through test_publish.py (a private mount namespace)")
    sys.exit(check(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1000))
