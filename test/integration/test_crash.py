# SPDX-License-Identifier: Apache-2.0
"""Crash safety: kill -9 at every step of a publish and of an unpublish, restart,
let kubelet retry; afterwards nothing is left (no mount, no state dir, no live
Vault token or lease) and a retried publish never stacks a second tmpfs or token.

A publish is stopped before a named step by the testing aid
--test-publish-pause=STEP (the daemon writes <state-dir>/paused-STEP and
sleeps); an unpublish is caught in its Vault revoke by a latency fault of the
dev server. The figures of the whole campaign are printed by
test/bench/bench_crash.py."""
import os
import signal
import subprocess
import threading
import time

import pytest

from test_publish import Pod, mounts_under, node, vault  # noqa: F401  (fixtures)

# every step of publish-tx.c, in order
STEPS = ["attributes", "capability", "pod-token", "claim", "target", "vault", "target-dir",
         "tmpfs", "files", "bind", "record", "save"]

OBJECTS = """
- objectName: password
  secretPath: secret/data/myapp/config
  secretKey: password
- objectName: db-user
  secretPath: database/creds/readonly
  secretKey: username
"""


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def leftovers(node_, pod, vault):
    """Everything a publish could leave behind, as a dict of non-empty findings."""
    state_vols = os.path.join(str(node_.state), "volumes")
    found = {
        "mounts": [m for m in mounts_under(pod.volume_dir)]
        + [m for m in mounts_under(node_.state) if m != str(node_.state)],
        "state": sorted(os.listdir(state_vols)) if os.path.isdir(state_vols) else [],
        "target": [str(pod.target)] if pod.target.exists() else [],
        "tokens": vault.live_tokens(),
        "leases": [l for l in vault.leases() if not l.get("revoked") and not l.get("expired")],
    }
    return {k: v for k, v in found.items() if v}


def kill9(d):
    d.expect_exit = -signal.SIGKILL
    d.proc.send_signal(signal.SIGKILL)
    d.wait()


def publish_in_background(d, req):
    result = {}

    def run():
        try:
            d.call("NodePublishVolume", req, timeout=90)
            result["ok"] = True
        except Exception as e:  # the daemon dies under it
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


@pytest.mark.parametrize("step", STEPS)
def test_kill9_during_publish_then_retry(node, vault, step):
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "objects": OBJECTS}
    paused = os.path.join(str(node.state), "paused-" + step)
    d = node(["--test-publish-pause=" + step], name="crashing")
    t, _ = publish_in_background(d, pod.publish_request(vault, attrs))
    wait_for(lambda: os.path.exists(paused), 30, "the publish to stop before " + step)
    kill9(d)
    t.join(10)
    os.unlink(paused)

    # the next start undoes what the interrupted publish did; kubelet retries
    d2 = node(name="restarted")
    if STEPS.index(step) > STEPS.index("vault"):
        # the write-ahead record exists once Vault issued the token (an
        # earlier death leaves nothing; one between the state dir's mkdir
        # and the record, an empty dir, which the start removes)
        assert d2.wait_for_log(r"undid 1 publish\(es\) that a restart interrupted", timeout=10)
    d2.call("NodePublishVolume", pod.publish_request(vault, attrs))
    # one tmpfs and one bind: the retry stacked nothing
    assert len(mounts_under(pod.volume_dir)) == 1, mounts_under(pod.volume_dir)
    assert len([m for m in mounts_under(node.state) if m != str(node.state)]) == 1
    assert len(vault.live_tokens()) == 1, vault.live_tokens()
    assert (pod.target / "password").read_text()
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert leftovers(node, pod, vault) == {}


@pytest.mark.parametrize("where", ["revoke", "before-state-removal"])
def test_kill9_during_unpublish_then_retry(node, vault, where):
    pod = Pod(node.pods)
    d = node(name="crashing")
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": OBJECTS}))
    # the token revoke hangs: unpublish has unmounted everything by then
    vault.fault(type="latency", path="/v1/auth/token/revoke-self", ms=60000, count=1)
    t = threading.Thread(target=lambda: _try(d.call, "NodeUnpublishVolume",
                                             pod.unpublish_request(), timeout=90), daemon=True)
    t.start()
    wait_for(lambda: mounts_under(pod.volume_dir) == [], 30, "the unpublish to reach its revoke")
    if where == "revoke":
        time.sleep(0.5)  # inside the revoke call
    kill9(d)
    t.join(10)
    vault.clear_faults()
    d2 = node(name="restarted")
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert leftovers(node, pod, vault) == {}


def _try(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except Exception:
        pass


def test_restart_after_unmounts_of_an_interrupted_unpublish_writes_nothing(node, vault):
    """An unpublish killed after its unmounts leaves the tmpfs's mount dir a plain directory
    of the state dir. The restarted daemon's first refresh must not write the status file
    (or secrets) there, and the retried unpublish then removes everything."""
    pod = Pod(node.pods)
    d = node(name="crashing")
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": OBJECTS}))
    kill9(d)
    mnts = [m for m in mounts_under(node.state) if m != str(node.state)]
    assert len(mnts) == 1 and mnts[0].endswith("/mnt"), mnts
    for m in mounts_under(pod.volume_dir) + mnts:  # what that unpublish had done
        subprocess.run(["umount", m], check=True)
    d2 = node(name="restarted")
    # the restart checks every token first, then writes the volume's status file
    wait_for(lambda: "writing the status file failed" in d2.log or os.listdir(mnts[0]), 30,
             "the restarted daemon's first refresh")
    assert os.listdir(mnts[0]) == []
    assert "the volume's tmpfs is not mounted any more" in d2.log
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert leftovers(node, pod, vault) == {}
