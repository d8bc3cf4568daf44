# SPDX-License-Identifier: Apache-2.0
"""Records an admin can filter (issue 11): every record about a volume carries
CSI_VOLUME_ID, POD_NAMESPACE, POD_NAME and POD_UID, so `journalctl POD_NAME=x` tells the
whole story of that pod's volume: publish, refresh failing, recovered, a revocation
problem, unpublish, and after a restart the recovery and what it waits for.

The daemon runs next to a real systemd-journald in a private mount namespace, as in
test_logging.py (journal_ns.py), with the Vault dev server and fast refresh settings.
"""
import time
import uuid

from test_logging import ns_daemons  # noqa: F401  (fixture)
from vaultenv import VaultDev
from vmtest import csi_pb2

TOKENS_KEY = "csi.storage.k8s.io/serviceAccount.tokens"
FAST = ["--test-refresh-interval-min=500ms", "--refresh-interval=1s",
        "--refresh-backoff-min=500ms", "--refresh-backoff-max=2s",
        "--refresh-request-timeout=3s"]
# log-ids.h
MSG_PUBLISH_OK = "3f27ff6f21e9498fa6fb23db6cb10c8c"
MSG_ROTATION_FAILED = "4269a0acc3ba4dd38dfae89f8b22e51d"
MSG_RECOVERED = "ad453106c14946a9968acf6227d02333"
OBJECTS = "- objectName: u\n  secretPath: secret/data/myapp/config\n  secretKey: username\n"


class Pod:
    def __init__(self, pods, name, namespace="shop"):
        self.name, self.namespace, self.uid = name, namespace, str(uuid.uuid4())
        self.volume_id = "csi-story-" + self.uid[:8]
        vdir = pods / self.uid / "volumes" / "kubernetes.io~csi" / "secrets"
        vdir.mkdir(parents=True, mode=0o750)
        self.target = str(vdir / "mount")

    def publish(self, vault):
        jwt = vault.mint_jwt(namespace=self.namespace, pod=self.name, pod_uid=self.uid)
        return csi_pb2.NodePublishVolumeRequest(
            volume_id=self.volume_id, target_path=self.target,
            volume_capability=csi_pb2.VolumeCapability(
                mount=csi_pb2.VolumeCapability.MountVolume(),
                access_mode=csi_pb2.VolumeCapability.AccessMode(mode=1)),
            secrets={TOKENS_KEY: VaultDev.tokens_json(jwt)},
            volume_context={"csi.storage.k8s.io/pod.name": self.name,
                            "csi.storage.k8s.io/pod.namespace": self.namespace,
                            "csi.storage.k8s.io/pod.uid": self.uid,
                            "csi.storage.k8s.io/ephemeral": "true",
                            "roleName": "demo", "refreshInterval": "1s", "objects": OBJECTS})

    def unpublish(self):
        return csi_pb2.NodeUnpublishVolumeRequest(volume_id=self.volume_id,
                                                  target_path=self.target)


def assert_names_pod(records, pod):
    assert records
    for e in records:
        # exactly one value each: a repeated field would come back as several lines
        assert e["CSI_VOLUME_ID"] == pod.volume_id, e
        assert e["POD_NAMESPACE"] == pod.namespace and e["POD_NAME"] == pod.name, e
        assert e["POD_UID"] == pod.uid, e


def wait_for(d, pod, pred, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in d.ours("POD_NAME=" + pod.name) if pred(e)]
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("no record %s for pod %s; stderr:\n%s" % (what, pod.name,
                                                                            d.log[-3000:]))
        time.sleep(0.1)


def test_journalctl_pod_name_tells_the_whole_story(ns_daemons, tmp_path):
    vault = VaultDev(tmp_path)
    try:
        _story(ns_daemons, tmp_path, vault)
    finally:
        vault.stop()


def _story(ns_daemons, tmp_path, vault):
    pods = tmp_path / "kubelet" / "pods"
    pods.mkdir(parents=True)
    state = tmp_path / "state"  # on disk: what a restart finds
    state.mkdir()
    args = (["--log-target=journal", "--state-dir=%s" % state, "--target-roots=%s" % pods]
            + FAST + vault.daemon_args())
    story, other = Pod(pods, "story-0"), Pod(pods, "other-0", namespace="tea")
    d = ns_daemons(args, name="first")
    d.call("NodePublishVolume", story.publish(vault), timeout=60)
    d.call("NodePublishVolume", other.publish(vault), timeout=60)

    # refreshes fail, then work again: one record each, naming the pod
    vault.fault(type="error", count=None, path="/v1/secret/*")
    failed = wait_for(d, story, lambda e: e.get("MESSAGE_ID") == MSG_ROTATION_FAILED,
                      "about the failing refresh")
    assert failed[0]["PRIORITY"] == "4" and failed[0]["VOLUME_STATE"] == "failing"
    vault.clear_faults()
    wait_for(d, story, lambda e: e.get("MESSAGE_ID") == MSG_RECOVERED, "about the recovery")

    # a revocation problem at unpublish of the other pod names that pod
    vault.fault(type="error", count=None, path="/v1/auth/token/revoke-self")
    d.call("NodeUnpublishVolume", other.unpublish(), timeout=60)
    vault.clear_faults()
    revoke = wait_for(d, other, lambda e: "revoking the Vault token" in e["MESSAGE"],
                      "about the failed revocation")
    assert revoke[0]["PRIORITY"] == "4"
    assert d.stop() == 0

    mine = d.ours("POD_NAME=story-0")
    assert_names_pod(mine, story)
    msgs = [e["MESSAGE"] for e in mine]
    assert "NodePublishVolume: OK" in msgs
    assert any(e.get("MESSAGE_ID") == MSG_ROTATION_FAILED for e in mine)
    assert any(e.get("MESSAGE_ID") == MSG_RECOVERED for e in mine)
    assert_names_pod(d.ours("POD_NAME=other-0"), other)
    assert any(e["MESSAGE"] == "NodeUnpublishVolume: OK" for e in d.ours("POD_NAME=other-0"))
    # the filter is exact: the other pod's records are not in this pod's story
    assert not [e for e in mine if other.volume_id in e["MESSAGE"]]
    # the same records by volume id
    assert {e["MESSAGE"] for e in d.ours("CSI_VOLUME_ID=" + story.volume_id)} >= set(msgs)

    # restart (the first namespace and its mounts are gone; record.json is not)
    d2 = ns_daemons(args, name="second")
    rec = wait_for(d2, story, lambda e: "recovered from the state dir" in e["MESSAGE"],
                   "about the recovered volume")
    assert rec[0]["PRIORITY"] == "6"
    # its token was not kept (state dir on disk): it waits for a republish, and says so
    wait_for(d2, story, lambda e: e.get("VOLUME_STATE") == "waiting-for-token",
             "about waiting for a token")
    d2.call("NodeUnpublishVolume", story.unpublish(), timeout=60)
    assert d2.stop() == 0
    after = d2.ours("POD_NAME=story-0")
    assert_names_pod(after, story)
    unpub = [e for e in after if e["MESSAGE"] == "NodeUnpublishVolume: OK"]
    assert len(unpub) == 1 and unpub[0]["MESSAGE_ID"] == MSG_PUBLISH_OK
