# SPDX-License-Identifier: Apache-2.0
"""NodePublishVolume / NodeUnpublishVolume against the real daemon, real mounts and the
Vault dev server, with requests shaped exactly as kubelet builds them for inline volumes."""
import errno
import grp
import hashlib
import json
import os
import stat
import subprocess
import threading
import time
import uuid

import grpc
import pytest

import vmtest
from vaultenv import VaultDev
from vmtest import CallError, csi_pb2

TOKENS_KEY = "csi.storage.k8s.io/serviceAccount.tokens"


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == str(path) or mp.startswith(str(path) + "/"):
                out.append(mp)
    return out


@pytest.fixture
def vault(tmp_path):
    v = VaultDev(tmp_path)
    yield v
    v.stop()


@pytest.fixture
def node(tmp_path, daemons, vault):
    """A daemon whose state dir is a tmpfs (so Vault tokens survive restarts) and
    whose allowed target root is a kubelet-like pods dir under tmp_path."""
    pods = tmp_path / "kubelet" / "pods"
    pods.mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(state)],
                   check=True)

    def make(extra=(), name="node", start=True):
        d = daemons(["--state-dir=%s" % state, "--target-roots=%s" % pods, "--log-level=debug"]
                    + vault.daemon_args() + list(extra), name=name, start=False)
        # our tmpfs state dir replaces the daemon's default one
        d.args = [a for a in d.args
                  if not a.startswith("--state-dir=") or a == "--state-dir=%s" % state]
        d.state_dir = str(state)
        if start:
            d.start()
        return d

    make.pods = pods
    make.state = state
    yield make
    for mp in sorted(mounts_under(tmp_path), key=len, reverse=True):
        if not mp.endswith("/state"):
            subprocess.run(["umount", "-l", mp], check=False)
    subprocess.run(["umount", "-l", str(state)], check=False)


class Pod:
    """One pod's inline csi volume, as kubelet identifies it."""

    def __init__(self, pods_dir, name="app-0", namespace="default", sa="app",
                 volume="vault-secrets"):
        self.uid = str(uuid.uuid4())
        self.name, self.namespace, self.sa, self.volume = name, namespace, sa, volume
        self.volume_id = "csi-" + hashlib.sha256((self.uid + volume).encode()).hexdigest()
        self.volume_dir = pods_dir / self.uid / "volumes" / "kubernetes.io~csi" / volume
        self.target = self.volume_dir / "mount"
        self.volume_dir.mkdir(parents=True, mode=0o750)  # kubelet makes the parent

    def publish_request(self, vault, attrs, token_in="secrets", jwt=None, group=None,
                        readonly=False, audience="vault", expires="2099-01-01T00:00:00Z"):
        jwt = jwt or vault.mint_jwt(namespace=self.namespace, sa=self.sa, pod=self.name,
                                    pod_uid=self.uid, audience=audience)
        tokens = VaultDev.tokens_json(jwt, audience=audience, expires=expires)
        ctx = dict(attrs)
        ctx.update({"csi.storage.k8s.io/pod.name": self.name,
                    "csi.storage.k8s.io/pod.namespace": self.namespace,
                    "csi.storage.k8s.io/pod.uid": self.uid,
                    "csi.storage.k8s.io/serviceAccount.name": self.sa,
                    "csi.storage.k8s.io/ephemeral": "true"})
        secrets = {}
        if token_in == "secrets":
            secrets[TOKENS_KEY] = tokens
        elif token_in == "context":
            ctx[TOKENS_KEY] = tokens
        mount = csi_pb2.VolumeCapability.MountVolume()
        if group is not None:
            mount.volume_mount_group = str(group)
        return csi_pb2.NodePublishVolumeRequest(
            volume_id=self.volume_id, target_path=str(self.target), readonly=readonly,
            volume_capability=csi_pb2.VolumeCapability(
                mount=mount, access_mode=csi_pb2.VolumeCapability.AccessMode(mode=1)),
            volume_context=ctx, secrets=secrets)

    def unpublish_request(self):
        return csi_pb2.NodeUnpublishVolumeRequest(volume_id=self.volume_id,
                                                  target_path=str(self.target))


KV_OBJECTS = """
- objectName: username
  secretPath: secret/data/myapp/config
  secretKey: username
- objectName: config.json
  secretPath: secret/data/myapp/config
- objectName: port
  secretPath: secret/data/myapp/config
  secretKey: port
- objectName: legacy
  secretPath: kv/myapp/legacy
  secretKey: api_key
"""


def assert_clean(pod, node, vault):
    assert not pod.target.exists(), "target_path must be removed"
    assert mounts_under(pod.volume_dir) == []
    assert [m for m in mounts_under(node.state) if m != str(node.state)] == []
    assert vault.live_tokens() == [], vault.live_tokens()


def test_publish_kv_and_unpublish(node, vault):
    d = node()
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": KV_OBJECTS}))
    t = pod.target
    assert (t / "username").read_text() == "appuser"
    assert json.loads((t / "config.json").read_text()) == {
        "username": "appuser", "password": "s3cr3t-demo", "port": 5432}
    assert (t / "port").read_text() == "5432"
    assert (t / "legacy").read_text() == "legacy-demo-key"
    for name in ("username", "config.json", "port", "legacy"):
        st = os.stat(t / name)
        assert stat.S_IMODE(st.st_mode) == 0o444 and st.st_uid == 0
    # the pod can never write into its volume
    with pytest.raises(OSError) as e:
        (t / "new").write_text("x")
    assert e.value.errno == errno.EROFS
    opts = [l for l in open("/proc/self/mountinfo") if " %s " % t in l][0]
    assert " ro," in opts or " ro " in opts.split(" - ")[0] or ",ro" in opts.split(" - ")[0]
    assert "nosuid" in opts and "nodev" in opts and "noexec" in opts
    assert len(vault.live_tokens()) == 1  # the pod's own Vault token, nothing else

    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)
    # idempotent
    d.call("NodeUnpublishVolume", pod.unpublish_request())


def test_volume_mount_group(node, vault):
    d = node()
    caps = [c.rpc.type for c in d.call("NodeGetCapabilities").capabilities]
    assert csi_pb2.NodeServiceCapability.RPC.VOLUME_MOUNT_GROUP in caps
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS}, group=4321))
    st = os.stat(pod.target / "username")
    assert st.st_gid == 4321 and stat.S_IMODE(st.st_mode) == 0o440
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_database_credentials_share_one_lease(node, vault):
    d = node()
    pod = Pod(node.pods)
    objects = json.dumps([
        {"objectName": "db-user", "secretPath": "database/creds/readonly", "secretKey": "username"},
        {"objectName": "db-pass", "secretPath": "database/creds/readonly", "secretKey": "password"},
    ])
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo", "objects": objects}))
    leases = [l for l in vault.leases() if not l.get("revoked") and not l.get("expired")]
    assert len(leases) == 1, leases
    assert leases[0].get("username") == (pod.target / "db-user").read_text()
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    # revoke-self took the lease with it
    assert [l for l in vault.leases() if not l.get("revoked") and not l.get("expired")] == []
    assert_clean(pod, node, vault)


def test_pki_certificate_and_key_from_one_issuance(node, vault):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    d = node()
    pod = Pod(node.pods)
    objects = """
- objectName: tls.crt
  secretPath: pki/issue/example-dot-com
  secretKey: certificate
  secretArgs:
    common_name: app.example.com
    ttl: 1h
- objectName: tls.key
  secretPath: pki/issue/example-dot-com
  secretKey: private_key
  secretArgs:
    common_name: app.example.com
    ttl: 1h
"""
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo", "objects": objects}))
    cert = x509.load_pem_x509_certificate((pod.target / "tls.crt").read_bytes())
    key = serialization.load_pem_private_key((pod.target / "tls.key").read_bytes(), None)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert vault.requests_to("pki/issue") == 1
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


@pytest.mark.parametrize("case,code,needle", [
    ("wrong-sa", grpc.StatusCode.UNAUTHENTICATED, "login"),
    ("denied", grpc.StatusCode.PERMISSION_DENIED, "secret/data/other"),
    ("not-found", grpc.StatusCode.NOT_FOUND, "secret/data/myapp/nope"),
    ("missing-key", grpc.StatusCode.NOT_FOUND, "nokey"),
    ("bad-attr", grpc.StatusCode.INVALID_ARGUMENT, "roleNmae"),
    ("tls-attr", grpc.StatusCode.INVALID_ARGUMENT, "vaultSkipTLSVerify"),
    ("no-token", grpc.StatusCode.INVALID_ARGUMENT, "tokenRequests"),
    ("expired", grpc.StatusCode.UNAUTHENTICATED, "expired"),
    ("vault-down", grpc.StatusCode.UNAVAILABLE, "Vault"),
    ("too-big", grpc.StatusCode.RESOURCE_EXHAUSTED, "max-file-bytes"),
])
def test_failures_leave_nothing_behind(node, vault, case, code, needle):
    extra = ["--max-file-bytes=8"] if case == "too-big" else []
    d = node(extra)
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "objects": KV_OBJECTS}
    kw = {}
    if case == "wrong-sa":
        vault.set_role("auth/kubernetes", "narrow", {
            "bound_service_account_names": ["someone-else"],
            "bound_service_account_namespaces": ["default"], "audience": "vault",
            "token_policies": ["kv-read"], "token_ttl": "1h"})
        attrs["roleName"] = "narrow"
    elif case == "denied":
        attrs["objects"] = KV_OBJECTS + "- objectName: other\n  secretPath: secret/data/other\n"
        vault.api("POST", "/admin/policies", {"name": "kv-read", "policy": {"path": {
            "secret/data/myapp/*": {"capabilities": ["read"]},
            "kv/*": {"capabilities": ["read"]}}}})
    elif case == "not-found":
        attrs["objects"] = "- objectName: x\n  secretPath: secret/data/myapp/nope\n"
    elif case == "missing-key":
        attrs["objects"] = ("- objectName: x\n  secretPath: secret/data/myapp/config\n"
                            "  secretKey: nokey\n")
    elif case == "bad-attr":
        attrs = {"roleNmae": "demo", "roleName": "demo", "objects": KV_OBJECTS}
    elif case == "tls-attr":
        attrs["vaultSkipTLSVerify"] = "true"
    elif case == "no-token":
        kw["token_in"] = "none"
    elif case == "expired":
        kw["expires"] = "2020-01-01T00:00:00Z"
    elif case == "vault-down":
        vault.fault(type="drop", count=None, path="*")
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", pod.publish_request(vault, attrs, **kw), timeout=120)
    assert e.value.code == code, e.value.details
    assert needle in e.value.details, e.value.details
    vault.clear_faults()
    assert_clean(pod, node, vault)
    # nothing of the pod's token or the secret values in the status message
    assert "eyJ" not in e.value.details and "s3cr3t" not in e.value.details


def test_republish_keeps_mount_and_answers_ok(node, vault):
    d = node()
    pod = Pod(node.pods)
    req = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS})
    d.call("NodePublishVolume", req)
    before = os.stat(pod.target / "username").st_ino
    mounts_before = mounts_under(pod.volume_dir)
    logins = vault.requests_to("auth/kubernetes/login")
    # kubelet's requiresRepublish: same request with a fresh token
    req2 = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS})
    for _ in range(3):
        d.call("NodePublishVolume", req2)
    assert mounts_under(pod.volume_dir) == mounts_before
    assert os.stat(pod.target / "username").st_ino == before
    assert vault.requests_to("auth/kubernetes/login") == logins  # no Vault I/O
    # a different readonly for the same target is ALREADY_EXISTS
    req3 = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS}, readonly=True)
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", req3)
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_same_volume_concurrency_is_aborted(node, vault):
    d = node()
    pod = Pod(node.pods)
    vault.fault(type="latency", ms=1500, count=None, path="*login*")
    req = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS})
    results = []

    def run():
        try:
            d.call("NodePublishVolume", req, timeout=60)
            results.append("OK")
        except CallError as e:
            results.append(e.code)
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == sorted(["OK", str(grpc.StatusCode.ABORTED)]), results
    vault.clear_faults()
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_token_from_volume_context_fallback_and_secrets_only(node, vault):
    d = node()
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": KV_OBJECTS}, token_in="context"))
    assert (pod.target / "username").read_text() == "appuser"
    d.wait_for_log("serviceAccountTokenInSecrets: true")
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    d.stop()
    d2 = node(["--token-source=secrets-only"], name="strict")
    pod2 = Pod(node.pods)
    with pytest.raises(CallError) as e:
        d2.call("NodePublishVolume", pod2.publish_request(
            vault, {"roleName": "demo", "objects": KV_OBJECTS}, token_in="context"))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "serviceAccountTokenInSecrets" in e.value.details
    assert_clean(pod2, node, vault)


def test_restart_then_unpublish(node, vault):
    d = node()
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": KV_OBJECTS}))
    assert len(vault.live_tokens()) == 1
    assert d.stop() == 0
    assert (pod.target / "username").read_text() == "appuser"  # survives the restart
    d2 = node(name="restarted")
    d2.wait_for_log("recovered 1 published volume")
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)  # the token kept on tmpfs was revoked


def test_100_volumes_published_concurrently(node, vault):
    d = node(["--workers=8"])
    pods = [Pod(node.pods, name="p%d" % i) for i in range(100)]
    errors = []

    def run(p):
        try:
            d.call("NodePublishVolume", p.publish_request(
                vault, {"roleName": "demo", "objects": KV_OBJECTS}), timeout=120)
        except CallError as e:
            errors.append(e)
    threads = [threading.Thread(target=run, args=(p,)) for p in pods]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all((p.target / "username").read_text() == "appuser" for p in pods)
    assert len(vault.live_tokens()) == 100
    for p in pods:
        d.call("NodeUnpublishVolume", p.unpublish_request())
    for p in pods:
        assert not p.target.exists()
    assert vault.live_tokens() == []
    assert [m for m in mounts_under(node.state) if m != str(node.state)] == []


def test_planted_tokens_never_logged(node, vault):
    d = node()
    pod = Pod(node.pods)
    jwt = vault.mint_jwt(pod_uid=pod.uid)
    req = pod.publish_request(vault, {"roleName": "demo", "objects": KV_OBJECTS}, jwt=jwt)
    d.call("NodePublishVolume", req)
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    d.stop()
    log = d.log
    assert pod.volume_id in log and "username" in log  # not a silent logger
    for planted in (jwt, jwt.split(".")[2], "s3cr3t-demo", "legacy-demo-key", "hvs."):
        assert planted not in log, planted


@pytest.mark.parametrize("api", ["auto", "classic"])
def test_many_unrelated_mounts_leave_nothing(tmp_path, api):
    """Issue 15: with 1000 unrelated tmpfs mounts on the node, publish and unpublish
    (sequential, concurrent, failing, and with someone else's mount stacked on a
    target) leave nothing behind and touch no mount the daemon did not make. It
    runs in a private mount namespace (many_mounts.py), so the host's table never
    holds the 1000 mounts; with mount-api classic it exercises the fallback."""
    helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "many_mounts.py")
    env = dict(os.environ, VAULTMOUNT_TEST_PRIVATE_NS="1")
    env["PYTHONPATH"] = os.path.dirname(helper) + ":" + env.get("PYTHONPATH", "")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "/usr/bin/python3",
                        helper, str(tmp_path), api], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    assert "many-mounts check passed (mount-api %s, 1000" % api in r.stdout
    assert mounts_under(tmp_path) == []  # nothing reached the host's table
