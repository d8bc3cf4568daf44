# SPDX-License-Identifier: Apache-2.0
"""Issue 14: SIGTERM ends the daemon within shutdown-grace, even while Vault hangs.

At the grace every in-flight Vault call is aborted (publishes roll back: no mount,
no directory left), the refresh thread stops, and the process exits 0. The bound
checked is grace + 2 s, well below systemd's TimeoutStopSec and the DaemonSet's
terminationGracePeriodSeconds (test_packaging, test_manifests).
"""
import os
import signal
import threading
import time

import grpc

from test_publish import KV_OBJECTS, Pod, mounts_under, node, vault  # noqa: F401  (fixtures)
from vmtest import CallError

GRACE = 3
SLACK = 2
HANG_MS = 45000


def _publish_in_background(d, req):
    out = []

    def run():
        try:
            d.call("NodePublishVolume", req, timeout=120)
            out.append(grpc.StatusCode.OK)
        except CallError as e:
            out.append(e.code)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def _sigterm_and_time(d):
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait(timeout=120)
    elapsed = time.monotonic() - t0
    print("SIGTERM to exit: %.2f s (grace %d s)" % (elapsed, GRACE))
    return rc, elapsed


def test_sigterm_with_vault_hanging_on_publish(node, vault):
    d = node(["--shutdown-grace=%ds" % GRACE])
    pod = Pod(node.pods)
    vault.fault(type="latency", ms=HANG_MS)
    th, out = _publish_in_background(d, pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS}))
    d.wait_for_log(r"publish request for volume '%s' validated" % pod.volume_id)
    time.sleep(0.5)  # the login is on its way to the hanging Vault
    rc, elapsed = _sigterm_and_time(d)
    assert rc == 0
    assert elapsed < GRACE + SLACK, "exited %.1f s after SIGTERM (grace %d s)" % (elapsed, GRACE)
    th.join(timeout=30)
    assert out and out[0] in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), out
    assert "aborting in-flight Vault calls" in d.log
    # the publish rolled back
    assert not pod.target.exists()
    assert mounts_under(pod.volume_dir) == []
    assert [m for m in mounts_under(node.state) if m != str(node.state)] == []
    assert os.listdir(os.path.join(node.state, "volumes")) == []


def test_sigterm_with_vault_hanging_on_refresh(node, vault):
    fast = ["--test-refresh-interval-min=500ms", "--refresh-interval=1s",
            "--refresh-request-timeout=60s"]
    d = node(fast + ["--shutdown-grace=%ds" % GRACE])
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS, "refreshInterval": "1s"}))
    reads = vault.requests_to("secret/data/myapp/config")
    vault.fault(type="latency", ms=HANG_MS)
    time.sleep(3)  # a refresh (every 1 s) is now waiting on Vault
    rc, elapsed = _sigterm_and_time(d)
    assert rc == 0
    assert elapsed < GRACE + SLACK, "exited %.1f s after SIGTERM (grace %d s)" % (elapsed, GRACE)
    vault.clear_faults()
    assert vault.requests_to("secret/data/myapp/config") >= reads
    # the volume stays published: a restarted daemon unpublishes it
    assert (pod.target / "username").read_text() == "appuser"
    d2 = node(name="restarted")
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert not pod.target.exists()
