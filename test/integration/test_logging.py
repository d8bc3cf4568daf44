# SPDX-License-Identifier: Apache-2.0
"""Logging: the secret canary, journald output, target selection, GRPC_TRACE, rate limiting.

The canary runs the whole flow at the most verbose level (debug, plus gRPC
core's tracers through --allow-grpc-trace) with fake tokens, JWTs, Vault
and OpenBao tokens and secret values planted everywhere a request can carry
them, then fails if any planted value, or its JSON-escaped, base64 or hex
form, shows up in stderr or in the journal. It also fails unless planted
non-secret markers (volume id, object name, secretArgs key, volume_context
key, pod name) do show up, so a logger that prints nothing cannot pass.
To extend it: add calls to CANARY_CALLS, or values to Canary.

The journald tests run the daemon next to a real systemd-journald in a
private mount namespace (journal_ns.py) and read the records back with
`journalctl -D <dir> -o json`. They need root, which CI has; they never skip.

Planted values are random per run and are reported by name, never by
value, so test output never carries one.
"""
import base64
import binascii
import glob
import json
import os
import secrets as pyrandom
import subprocess
import threading
import time
import uuid

import grpc
import pytest

import vmtest
from vmtest import CallError, csi_pb2

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "journal_ns.py")
PYTHON = os.environ.get("VAULTMOUNT_PYTHON") or "/usr/bin/python3"
TOKENS_KEY = "csi.storage.k8s.io/serviceAccount.tokens"

# log-ids.h
MESSAGE_PUBLISH_OK = "3f27ff6f21e9498fa6fb23db6cb10c8c"
MESSAGE_PUBLISH_FAILED = "5355695f2acd4166bc75ed17aaff056a"


# ---------------------------------------------------------------------------
# a daemon inside a private mount namespace with its own journald

class NsDaemon(vmtest.Daemon):
    """vaultmountd run through journal_ns.py. stderr is a pipe we own, so
    JOURNAL_STREAM can name it (journal_stream="match") or not ("mismatch")."""

    def __init__(self, tmpdir, args=(), env=None, name="d", journald=True,
                 journal_stream=None, tmpfs=()):
        super().__init__(tmpdir, args=args, env=env, name=name)
        self.tmpfs = list(tmpfs)
        self.ns_dir = os.path.join(self.dir, "ns")
        self.journal_dir = os.path.join(self.ns_dir, "run-log", "journal")
        self.journald = journald
        self.journal_stream = journal_stream
        self.stderr_id = None
        self._rfile = None

    def start(self, wait=True, timeout=30):
        cmd = ["unshare", "--mount", "--propagation", "private", PYTHON, HELPER,
               "--dir", self.ns_dir]
        if not self.journald:
            cmd.append("--no-journald")
        for path in self.tmpfs:
            cmd += ["--tmpfs", path]
        cmd += ["--", vmtest.DAEMON] + self.args
        r, w = os.pipe()
        st = os.fstat(w)
        self.stderr_id = "%d:%d" % (st.st_dev, st.st_ino)
        env = dict(self.env)
        if self.journal_stream == "match":
            env["JOURNAL_STREAM"] = self.stderr_id
        elif self.journal_stream == "mismatch":
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino + 1)
        else:
            env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=w)
        os.close(w)
        self._rfile = os.fdopen(r, "rb")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def _read(self):
        with open(self.log_path, "ab") as f:
            for raw in iter(self._rfile.readline, b""):
                f.write(raw)
                f.flush()
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def ns_path(self, path):
        """`path` as the daemon sees it, inside its mount namespace."""
        with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
            pid = int(f.read().split()[0])
        return "/proc/%d/root%s" % (pid, path)

    def logs_to_journal(self):
        return "--log-target=journal" in self.args or (
            self.journal_stream == "match" and "--log-target=stderr" not in self.args)

    def wait_ready(self, timeout=30):
        if self.logs_to_journal() and self.journald:
            self.wait_for_journal(lambda e: "serving driver" in e.get("MESSAGE", ""),
                                  timeout=timeout)
        else:
            self.wait_for_log(r"serving driver", timeout=timeout)

    def journal(self, *filters):
        """Every entry (decoded JSON objects), optionally filtered by journalctl matches."""
        if not os.path.isdir(self.journal_dir):
            return []
        r = subprocess.run(["journalctl", "-D", self.journal_dir, "-o", "json", "--all",
                            "--no-pager"] + list(filters),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode in (0, 1), r.stderr
        return [decode_entry(json.loads(l)) for l in r.stdout.splitlines() if l.strip()]

    def journal_raw(self):
        r = subprocess.run(["journalctl", "-D", self.journal_dir, "-o", "json", "--all",
                            "--no-pager"], capture_output=True, timeout=60)
        return r.stdout

    def ours(self, *filters):
        return [e for e in self.journal(*filters) if e.get("SYSLOG_IDENTIFIER") == "vaultmountd"]

    def wait_for_journal(self, pred, timeout=30):
        """Polls the journal files (journald writes them asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.ours() if pred(e)]
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited (%s) before the record appeared; stderr:\n%s"
                                     % (self.proc.returncode, self.log))
            if time.monotonic() > deadline:
                raise AssertionError("record not in the journal after %ss; stderr:\n%s"
                                     % (timeout, self.log))
            time.sleep(0.05)


def decode_entry(e):
    """journalctl -o json gives a string, a list of values, or a byte array (non-UTF-8)."""
    out = {}
    for k, v in e.items():
        if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
            v = bytes(v).decode("utf-8", "replace")
        elif isinstance(v, list):
            v = "\n".join(bytes(x).decode("utf-8", "replace") if isinstance(x, list) else str(x)
                          for x in v)
        out[k] = v
    return out


@pytest.fixture
def ns_daemons(tmp_path):
    started = []

    def make(args=(), env=None, name=None, start=True, expect_exit=0, **kw):
        d = NsDaemon(tmp_path, args=args, env=env, name=name or "n%d" % len(started), **kw)
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
            problems.append("%s exited %s, expected %s; stderr:\n%s" % (
                d.dir, d.returncode, d.expect_exit, d.log[-3000:]))
        report = d.sanitizer_report()
        if report:
            problems.append("%s: sanitizer reported %s:\n%s" % (d.dir, report, d.log[-4000:]))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# the canary

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rand62(n):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(pyrandom.choice(alphabet) for _ in range(n))


class Canary:
    """Fresh fake secrets and non-secret markers for one run."""

    def __init__(self):
        tag = pyrandom.token_hex(6)
        header = b64url(json.dumps({"alg": "RS256", "kid": pyrandom.token_hex(8)}).encode())
        payload = b64url(json.dumps({"sub": "system:serviceaccount:shop:web",
                                     "aud": ["vault"], "jti": pyrandom.token_hex(8)}).encode())
        signature = b64url(pyrandom.token_bytes(64))
        self.secret = {
            "sa-jwt": "%s.%s.%s" % (header, payload, signature),
            "sa-jwt-2": "%s.%s.%s" % (header, payload, b64url(pyrandom.token_bytes(48))),
            "vault-hvs": "hvs." + rand62(91),
            "vault-hvb": "hvb." + b64url(pyrandom.token_bytes(96)),
            "vault-legacy-s": "s." + rand62(24),
            "openbao-s": "s." + rand62(40),
            "secret-value": "canary-secret-" + pyrandom.token_hex(12),
            "secret-quoted": 'pa"ss\\wo rd-' + pyrandom.token_hex(10),
            "secret-key-name": "canary-secret-key-" + pyrandom.token_hex(8),
            "secret-arg-value": "canary-arg-value-" + pyrandom.token_hex(10),
            "mount-flag-value": "canary-mount-flag-" + pyrandom.token_hex(10),
            "attr-value": "canary-attr-value-" + pyrandom.token_hex(10),
            "object-extra-value": "canary-object-extra-" + pyrandom.token_hex(10),
        }
        self.marker = {
            "volume-id": "canary-vol-" + tag,
            "object-name": "canary-object-" + tag,
            "secret-arg-key": "canary_arg_key_" + tag,
            "attr-key": "canary-attr-key-" + tag,
            "pod-name": "canary-pod-" + tag,
            "secret-path": "secret/data/canary-" + tag,
        }

    def tokens_json(self, jwt):
        return json.dumps({"vault": {"token": jwt, "expirationTimestamp": "2030-01-01T00:00:00Z"}},
                          separators=(",", ":"), sort_keys=True)

    def objects_yaml(self):
        s, m = self.secret, self.marker
        return ("- objectName: %s\n"
                "  secretPath: %s\n"
                "  secretKey: password\n"
                "- objectName: %s-cert\n"
                "  secretPath: pki/issue/web\n"
                "  method: PUT\n"
                "  secretArgs:\n"
                "    %s: %s\n"
                "    ttl: \"%s\"\n"
                "  extra: %s\n" % (m["object-name"], m["secret-path"], m["object-name"],
                                   m["secret-arg-key"], s["secret-arg-value"], s["vault-hvs"],
                                   s["object-extra-value"]))

    def secrets_map(self):
        s = self.secret
        return {TOKENS_KEY: self.tokens_json(s["sa-jwt"]),
                "vault-token": s["vault-hvs"],
                "password": s["secret-value"],
                "quoted": s["secret-quoted"],
                s["secret-key-name"]: s["openbao-s"]}

    def volume_context(self):
        s, m = self.secret, self.marker
        return {"csi.storage.k8s.io/pod.name": m["pod-name"],
                "csi.storage.k8s.io/pod.namespace": "shop",
                "csi.storage.k8s.io/pod.uid": "5f0c3e1a-0000-4000-8000-000000000001",
                "csi.storage.k8s.io/serviceAccount.name": "web",
                "csi.storage.k8s.io/ephemeral": "true",
                TOKENS_KEY: self.tokens_json(s["sa-jwt-2"]),
                "roleName": "web",
                "objects": self.objects_yaml(),
                m["attr-key"]: s["attr-value"],
                "vaultToken": s["vault-legacy-s"],
                "bearer": "Bearer " + s["sa-jwt"],
                "batchToken": s["vault-hvb"]}

    def capability(self):
        s = self.secret
        return csi_pb2.VolumeCapability(
            mount=csi_pb2.VolumeCapability.MountVolume(
                fs_type="tmpfs",
                mount_flags=["ro", "password=" + s["mount-flag-value"], s["vault-hvs"],
                             s["secret-quoted"]]),
            access_mode=csi_pb2.VolumeCapability.AccessMode(
                mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))

    def target(self, tmp_path):
        return "/var/lib/kubelet/pods/5f0c3e1a-0000-4000-8000-000000000001/volumes/" \
               "kubernetes.io~csi/%s/mount" % self.marker["volume-id"]

    def forms(self, value):
        """The forms a leak could take: raw, JSON/logfmt-escaped, base64, hex."""
        raw = value.encode()
        once = json.dumps(value)[1:-1]
        out = {"raw": value,
               "json-escaped": once,
               # escaped by the redactor, then again by the logfmt/JSON line
               "escaped-twice": json.dumps(once)[1:-1],
               "base64": base64.b64encode(raw).decode().rstrip("="),
               "base64url": b64url(raw),
               "hex": binascii.hexlify(raw).decode(),
               "hex-spaced": " ".join("%02x" % b for b in raw)}
        # a JWT's signature alone is a credential fragment worth catching too
        if value.count(".") == 2 and value.startswith("eyJ"):
            out["jwt-signature"] = value.rsplit(".", 1)[1]
        return out

    def check(self, text, where):
        """Fails if any planted secret appears in `text` (reported by name only)."""
        leaks = []
        for name, value in self.secret.items():
            for form, needle in self.forms(value).items():
                if needle and needle in text:
                    leaks.append("%s (%s form)" % (name, form))
        assert not leaks, "planted secrets leaked into %s: %s" % (where, ", ".join(leaks))

    def check_markers(self, text, where, markers=None):
        missing = [n for n, v in (markers or self.marker).items() if v not in text]
        assert not missing, "non-secret markers missing from %s (does the logger print " \
                            "anything?): %s" % (where, ", ".join(missing))


def _publish(c, tmp_path, **over):
    req = csi_pb2.NodePublishVolumeRequest(
        volume_id=c.marker["volume-id"], target_path=c.target(tmp_path),
        volume_capability=c.capability(), readonly=True,
        secrets=c.secrets_map(), volume_context=c.volume_context(),
        publish_context={"controller": c.secret["secret-value"]})
    for k, v in over.items():
        if v is None:
            req.ClearField(k)
        else:
            setattr(req, k, v)
    return req


# Each entry: (method, function(canary, tmp_path) -> request). Add calls here.
CANARY_CALLS = [
    ("Probe", lambda c, t: csi_pb2.ProbeRequest()),
    ("GetPluginInfo", lambda c, t: csi_pb2.GetPluginInfoRequest()),
    ("GetPluginCapabilities", lambda c, t: csi_pb2.GetPluginCapabilitiesRequest()),
    ("NodeGetCapabilities", lambda c, t: csi_pb2.NodeGetCapabilitiesRequest()),
    ("NodeGetInfo", lambda c, t: csi_pb2.NodeGetInfoRequest()),
    ("NodePublishVolume", lambda c, t: _publish(c, t)),
    ("NodePublishVolume", lambda c, t: _publish(c, t)),  # kubelet's republish
    ("NodePublishVolume", lambda c, t: _publish(c, t, target_path=None)),  # invalid
    ("NodeStageVolume", lambda c, t: csi_pb2.NodeStageVolumeRequest(
        volume_id=c.marker["volume-id"], staging_target_path=str(t / "staging"),
        volume_capability=c.capability(), secrets=c.secrets_map(),
        volume_context=c.volume_context())),
    ("NodeExpandVolume", lambda c, t: csi_pb2.NodeExpandVolumeRequest(
        volume_id=c.marker["volume-id"], volume_path=c.target(t),
        secrets=c.secrets_map())),
    ("NodeUnpublishVolume", lambda c, t: csi_pb2.NodeUnpublishVolumeRequest(
        volume_id=c.marker["volume-id"], target_path=c.target(t))),
]


def run_canary_flow(d, c, tmp_path):
    for method, make in CANARY_CALLS:
        try:
            d.call(method, make(c, tmp_path), timeout=60)
        except CallError:
            pass  # outcomes do not matter here, only what gets logged
    # malformed bytes that carry a secret: field 1 claims more bytes than there are
    raw = c.secret["secret-value"].encode()
    code, _, _ = vmtest.raw_call(d.socket, "/csi.v1.Node/NodePublishVolume",
                                 b"\x0a\xff\x01" + raw)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # invalid UTF-8 next to a secret in the secrets map
    bad = csi_pb2.NodePublishVolumeRequest(volume_id=c.marker["volume-id"],
                                           secrets={"k": c.secret["secret-value"]})
    payload = bad.SerializeToString() + b"\x12\x03\xff\xfe\xfd"
    code, _, _ = vmtest.raw_call(d.socket, "/csi.v1.Node/NodePublishVolume", payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


VERBOSE_ARGS = ["--log-level=debug", "--allow-grpc-trace=true"]
VERBOSE_ENV = {"GRPC_TRACE": "all", "GRPC_VERBOSITY": "DEBUG"}


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_canary_stderr(daemons, tmp_path, fmt):
    c = Canary()
    d = daemons(VERBOSE_ARGS + ["--log-format=" + fmt, "--log-target=stderr"], env=VERBOSE_ENV)
    run_canary_flow(d, c, tmp_path)
    assert d.stop() == 0
    log = d.log
    c.check(log, "stderr")
    c.check_markers(log, "stderr")
    # the debug dumps went through the redactor, and gRPC's byte dumps were stripped
    assert "NodePublishVolume request: {" in log
    assert "secrets: ***stripped***" in log
    assert "mount_flags: ***stripped***" in log
    assert '"%s": ***stripped***' % TOKENS_KEY in log or \
        '\\"%s\\": ***stripped***' % TOKENS_KEY in log
    assert "***bytes-stripped***" in log
    assert "SUBSYSTEM=grpc" in log or '"SUBSYSTEM":"grpc"' in log


def check_journal(d, c, markers=None):
    """The canary's checks on everything in the journal, and on the daemon's stderr."""
    entries = d.journal()
    text = "\n".join("%s=%s" % (k, v) for e in entries for k, v in e.items())
    c.check(text, "the journal (decoded)")
    c.check(d.journal_raw().decode("utf-8", "replace"), "the journal (journalctl -o json)")
    # the journal files themselves (fields below journald's compression threshold are plain)
    for root, _, files in os.walk(d.journal_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                c.check(fh.read().decode("latin-1"), "journal file " + f)
    c.check(d.log, "stderr")
    ours = "\n".join("%s=%s" % (k, v) for e in entries
                     if e.get("SYSLOG_IDENTIFIER") == "vaultmountd" for k, v in e.items())
    c.check_markers(ours, "the journal", markers)
    assert any(e.get("MESSAGE", "").startswith("NodePublishVolume request: {")
               for e in entries)


def test_canary_journal(ns_daemons, tmp_path):
    c = Canary()
    d = ns_daemons(VERBOSE_ARGS + ["--log-target=journal"], env=VERBOSE_ENV)
    run_canary_flow(d, c, tmp_path)
    assert d.stop() == 0
    check_journal(d, c)


# ---------------------------------------------------------------------------
# the canary through the real publish path: Vault dev server, real tmpfs mount

@pytest.mark.parametrize("target", ["stderr", "journal"])
def test_canary_real_publish(ns_daemons, tmp_path, target):
    """Secrets that only Vault holds (KV values, a PKI private key), the Vault
    token the daemon gets at login, and a real signed service-account JWT go
    through login, fetch, files, republish and unpublish; none may be logged."""
    from vaultenv import VaultDev  # the project's Vault dev server

    vault = VaultDev(tmp_path)
    try:
        _real_publish_canary(ns_daemons, tmp_path, vault, target)
    finally:
        vault.stop()


def _real_publish_canary(ns_daemons, tmp_path, vault, target):
    c = Canary()
    s, m = c.secret, c.marker
    pods = tmp_path / "kubelet" / "pods"
    state = tmp_path / "state"
    state.mkdir()
    uid = str(uuid.uuid4())
    volume_dir = pods / uid / "volumes" / "kubernetes.io~csi" / "canary"
    volume_dir.mkdir(parents=True, mode=0o750)  # kubelet makes the parent
    target_path = str(volume_dir / "mount")
    kv_path = m["secret-path"][len("secret/data/"):]
    vault.write_secret("secret", kv_path, {"password": s["secret-value"],
                                           "api_key": s["secret-quoted"],
                                           "nested_token": s["vault-hvs"]})
    cn = s["secret-arg-value"] + ".example.com"
    s["secret-arg-cn"] = cn
    objects = ("- objectName: %(o)s\n  secretPath: %(p)s\n  secretKey: password\n"
               "- objectName: %(o)s.json\n  secretPath: %(p)s\n"
               "- objectName: %(o)s.pem\n  secretPath: pki/issue/example-dot-com\n"
               "  secretArgs:\n    common_name: %(cn)s\n    ttl: 1h\n"
               % {"o": m["object-name"], "p": m["secret-path"], "cn": cn})
    jwt = vault.mint_jwt(namespace="shop", sa="web", pod=m["pod-name"], pod_uid=uid)
    s["sa-jwt-signed"] = jwt
    ctx = {"csi.storage.k8s.io/pod.name": m["pod-name"],
           "csi.storage.k8s.io/pod.namespace": "shop",
           "csi.storage.k8s.io/pod.uid": uid,
           "csi.storage.k8s.io/serviceAccount.name": "web",
           "csi.storage.k8s.io/ephemeral": "true",
           "roleName": "demo", "objects": objects}
    req = csi_pb2.NodePublishVolumeRequest(
        volume_id=m["volume-id"], target_path=target_path, readonly=True,
        volume_capability=vmtest.mount_capability(),
        secrets={TOKENS_KEY: c.tokens_json(jwt)}, volume_context=ctx)

    d = ns_daemons(VERBOSE_ARGS + ["--log-target=" + target, "--state-dir=" + str(state),
                                   "--target-roots=" + str(pods)] + vault.daemon_args(),
                   env=VERBOSE_ENV, journald=target == "journal", tmpfs=[str(state)])
    try:
        d.call("NodePublishVolume", req, timeout=60)
    except CallError as e:  # a status message never carries a secret: safe to show
        raise AssertionError("publish failed: %s: %s" % (e.code, e.details))

    # what only the daemon knows: its Vault token (kept on the tmpfs state dir) ...
    tokens = glob.glob(d.ns_path(str(state)) + "/volumes/*/token")
    assert tokens, "no Vault token in the state dir: update this test to the new layout"
    for i, path in enumerate(tokens):
        with open(path) as f:
            s["vault-login-token-%d" % i] = f.read().strip()
    # ... and what Vault sent back: the files, among them a PKI private key
    mnt = d.ns_path(target_path)
    with open(os.path.join(mnt, m["object-name"])) as f:
        assert f.read() == s["secret-value"], "the KV secret did not reach its file"
    with open(os.path.join(mnt, m["object-name"] + ".pem")) as f:
        pki = json.load(f)
    for i, line in enumerate(l for l in pki["private_key"].splitlines() if len(l) >= 32):
        s["pki-private-key-line-%d" % i] = line

    d.call("NodePublishVolume", req, timeout=60)  # kubelet's republish
    with pytest.raises(CallError):  # refused: unknown attribute, planted everywhere
        d.call("NodePublishVolume", _publish(c, tmp_path), timeout=60)
    d.call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
        volume_id=m["volume-id"], target_path=target_path), timeout=60)
    assert d.stop() == 0

    markers = {"volume-id": m["volume-id"], "object-name": m["object-name"],
               "secret-path": m["secret-path"], "secret-arg-key": "common_name",
               "pod-name": m["pod-name"]}
    c.check(d.log, "stderr")
    if target == "journal":
        check_journal(d, c, markers)
    else:
        c.check_markers(d.log, "stderr", markers)
        assert "NodePublishVolume request: {" in d.log


# ---------------------------------------------------------------------------
# journald fields and filtering

def test_journal_fields_and_filters(ns_daemons, tmp_path):
    d = ns_daemons(["--log-target=journal", "--log-level=debug"])
    ctx = {"csi.storage.k8s.io/pod.name": "web-0", "csi.storage.k8s.io/pod.namespace": "shop",
           "csi.storage.k8s.io/pod.uid": "5f0c3e1a-0000-4000-8000-000000000001"}
    target = "/var/lib/kubelet/pods/5f0c3e1a-0000-4000-8000-000000000001/volumes/" \
             "kubernetes.io~csi/jvol-1/mount"
    block = csi_pb2.VolumeCapability(
        block=csi_pb2.VolumeCapability.BlockVolume(),
        access_mode=csi_pb2.VolumeCapability.AccessMode(
            mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", csi_pb2.NodePublishVolumeRequest(
            volume_id="jvol-1", target_path=target, volume_capability=block,
            volume_context=ctx))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    d.call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
        volume_id="jvol-2", target_path=target.replace("jvol-1", "jvol-2")))
    d.call("NodeGetInfo")
    assert d.stop() == 0
    ours = d.ours()
    assert ours, "no vaultmountd records in the journal"

    start = [e for e in ours if "serving driver" in e["MESSAGE"]]
    assert len(start) == 1
    s = start[0]
    assert s["PRIORITY"] == "6"
    assert s["CODE_FILE"].endswith("main.c") and int(s["CODE_LINE"]) > 0
    assert s["CODE_FUNC"] == "log_serving"
    assert s["_TRANSPORT"] == "journal"  # the native protocol, not the stdout stream

    pub = [e for e in ours if e.get("CSI_METHOD") == "NodePublishVolume" and "GRPC_CODE" in e]
    assert len(pub) == 1, pub
    p = pub[0]
    assert p["PRIORITY"] == "4"
    assert p["GRPC_CODE"] == "3"
    assert p["CSI_VOLUME_ID"] == "jvol-1"
    assert p["CSI_TARGET_PATH"] == target
    assert p["POD_NAMESPACE"] == "shop" and p["POD_NAME"] == "web-0"
    assert p["POD_UID"] == "5f0c3e1a-0000-4000-8000-000000000001"
    assert p["MESSAGE_ID"] == MESSAGE_PUBLISH_FAILED
    assert float(p["DURATION_MS"]) >= 0
    assert p["CODE_FUNC"] == "log_outcome"

    unpub = [e for e in ours if e.get("CSI_METHOD") == "NodeUnpublishVolume" and "GRPC_CODE" in e]
    assert len(unpub) == 1 and unpub[0]["GRPC_CODE"] == "0"
    assert unpub[0]["MESSAGE_ID"] == MESSAGE_PUBLISH_OK and unpub[0]["PRIORITY"] == "6"
    info = [e for e in ours if e.get("CSI_METHOD") == "NodeGetInfo" and "GRPC_CODE" in e]
    assert len(info) == 1 and "MESSAGE_ID" not in info[0]

    # the debug dump of the request is in the journal too, with the same context
    dumps = [e for e in ours if e["MESSAGE"].startswith("NodePublishVolume request: {")]
    assert len(dumps) == 1 and dumps[0]["PRIORITY"] == "7"
    assert dumps[0]["CSI_METHOD"] == "NodePublishVolume"
    assert dumps[0]["CSI_VOLUME_ID"] == "jvol-1" and dumps[0]["CSI_TARGET_PATH"] == target

    # what an admin types (docs/operations.md, "Logs")
    by_vol = d.ours("CSI_VOLUME_ID=jvol-1")
    assert by_vol and all(e["CSI_VOLUME_ID"] == "jvol-1" for e in by_vol)
    assert d.ours("POD_NAMESPACE=shop")
    warn = d.ours("-p", "warning")
    assert warn and all(int(e["PRIORITY"]) <= 4 for e in warn)
    assert any(e.get("CSI_METHOD") == "NodePublishVolume" for e in warn)
    failed = d.ours("MESSAGE_ID=" + MESSAGE_PUBLISH_FAILED)
    assert [e["CSI_VOLUME_ID"] for e in failed] == ["jvol-1"]
    assert [e["CSI_VOLUME_ID"] for e in d.ours("MESSAGE_ID=" + MESSAGE_PUBLISH_OK)] == ["jvol-2"]
    # stderr stayed quiet: everything went to the journal
    assert d.log == ""


# ---------------------------------------------------------------------------
# target selection

def test_auto_uses_journal_when_journal_stream_is_our_stderr(ns_daemons):
    d = ns_daemons(journal_stream="match")
    d.call("Probe")
    d.call("NodeGetInfo")
    assert d.stop() == 0
    msgs = [e["MESSAGE"] for e in d.ours()]
    assert any("serving driver" in m for m in msgs)
    assert any(m == "NodeGetInfo: OK" for m in msgs)
    assert any("vaultmountd stopped after SIGTERM" in m for m in msgs)
    assert d.log == "", "records went to stderr although JOURNAL_STREAM named it"


def test_auto_uses_stderr_when_journal_stream_does_not_match(ns_daemons):
    d = ns_daemons(journal_stream="mismatch")
    d.call("NodeGetInfo")
    assert d.stop() == 0
    assert "serving driver" in d.log and "NodeGetInfo: OK" in d.log
    assert d.ours() == []


def test_explicit_stderr_wins_over_journal_stream(ns_daemons):
    d = ns_daemons(["--log-target=stderr"], journal_stream="match")
    assert d.stop() == 0
    assert "serving driver" in d.log
    assert d.ours() == []


def test_journal_target_without_journald_falls_back_to_stderr(ns_daemons):
    d = ns_daemons(["--log-target=journal"], journald=False)
    d.call("NodeGetInfo")
    assert d.stop() == 0
    assert "serving driver" in d.log and "NodeGetInfo: OK" in d.log


def test_bad_log_target_is_a_usage_error():
    r = vmtest.run_daemon_cli(["--log-target=syslog", "--config=/dev/null"])
    assert r.returncode == 2
    assert "log-target: 'syslog' is not a log target (auto, stderr, journal)" in r.stderr
    r = vmtest.run_daemon_cli(["--check-config", "--config=/dev/null", "--log-target=journal",
                               "--node-id=n", "--vault-address=https://vault.test:8200"])
    assert r.returncode == 0, r.stderr
    assert 'log-target: "journal"  # flag' in r.stdout
    assert 'allow-grpc-trace: "false"  # default' in r.stdout


# ---------------------------------------------------------------------------
# GRPC_TRACE

def test_grpc_trace_is_refused(tmp_path):
    sock = str(tmp_path / "csi.sock")
    args = ["--endpoint=unix://" + sock, "--state-dir=" + str(tmp_path / "state"),
            "--config=/dev/null"]
    r = vmtest.run_daemon_cli(args, env={"GRPC_TRACE": "http"})
    assert r.returncode == 2
    assert "refusing to start: GRPC_TRACE is set" in r.stderr
    assert "allow-grpc-trace" in r.stderr
    assert not os.path.exists(sock)
    # the probe client refuses too
    r = vmtest.run_daemon_cli(["probe"] + args, env={"GRPC_TRACE": "all"})
    assert r.returncode == 2 and "refusing to start" in r.stderr


def test_grpc_trace_empty_is_not_set(daemons):
    d = daemons(env={"GRPC_TRACE": ""})
    assert d.call("Probe")
    assert "GRPC_TRACE" not in d.log


def test_grpc_trace_allowed_by_flag_or_environment(daemons):
    d = daemons(["--allow-grpc-trace=true"], env={"GRPC_TRACE": "http"})
    d.call("Probe")
    assert "GRPC_TRACE is set and allowed" in d.log
    e = daemons(env={"GRPC_TRACE": "http", "VAULTMOUNT_ALLOW_GRPC_TRACE": "true"})
    e.call("Probe")
    assert "GRPC_TRACE is set and allowed" in e.log


# ---------------------------------------------------------------------------
# rate limiting, end to end

def test_repeated_failures_are_rate_limited_and_counted(daemons, tmp_path):
    d = daemons()
    req = csi_pb2.NodePublishVolumeRequest(volume_id="rl-vol",
                                           volume_capability=vmtest.mount_capability())
    for _ in range(25):
        with pytest.raises(CallError):
            d.call("NodePublishVolume", req)
    # every call was answered; at most the burst (10) was logged so far
    d.wait_for_count(r"CSI_METHOD=NodePublishVolume .*GRPC_CODE=3", 10)
    lines = [l for l in d.log.splitlines() if "CSI_VOLUME_ID=rl-vol" in l]
    assert len(lines) == 10, "\n".join(lines)
    # at shutdown the count is reported, never silently dropped
    assert d.stop() == 0
    reports = [l for l in d.log.splitlines() if "SUPPRESSED=" in l]
    assert len(reports) == 1, reports
    assert "SUPPRESSED=15" in reports[0]
    assert "(15 similar messages suppressed)" in reports[0]
    assert "level=warning" in reports[0]
