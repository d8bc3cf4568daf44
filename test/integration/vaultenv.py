# SPDX-License-Identifier: Apache-2.0
"""The project's Vault dev server for integration tests, and kubelet-style tokens.

VaultDev starts test/vaultdev/vaultdev.py on loopback with a fresh RSA key
registered for its kubernetes and jwt auth mounts, waits for its ready line,
and offers the admin API (tokens, leases, counters, faults, secrets).
mint_jwt() signs RS256 service-account tokens shaped like the ones the
apiserver issues for a CSI driver's tokenRequests.
"""
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import vmtest

VAULTDEV = os.path.join(vmtest.SRC, "test", "vaultdev", "vaultdev.py")


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class VaultDev:
    def __init__(self, tmpdir, http=False, extra_args=()):
        self.dir = os.path.join(str(tmpdir), "vault")
        os.makedirs(self.dir, exist_ok=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.pubkey_path = os.path.join(self.dir, "sa.pub")
        with open(self.pubkey_path, "wb") as f:
            f.write(pub)
        self.ready_file = os.path.join(self.dir, "ready.json")
        args = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
                VAULTDEV, "--ready-file", self.ready_file, "--jwt-pubkey", self.pubkey_path]
        if http:
            args.append("--http")
        args += list(extra_args)
        self.log_path = os.path.join(self.dir, "vaultdev.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True)
        line = self.proc.stdout.readline()  # "vaultdev ready <addr>": event, not a sleep
        if not line.startswith("vaultdev ready"):
            raise AssertionError("vaultdev did not start: %r\n%s" % (line, open(self.log_path).read()))
        with open(self.ready_file) as f:
            info = json.load(f)
        self.addr = info["addr"]
        self.admin = info["admin_addr"]
        self.ca_file = info.get("ca_file")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    # ---- admin API ----
    def api(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.admin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def tokens(self):
        return self.api("GET", "/admin/tokens")

    def live_tokens(self):
        """Tokens neither expired nor revoked (root/admin tokens excluded)."""
        out = self.tokens()
        items = out.get("tokens", out) if isinstance(out, dict) else out
        return [t for t in items if not t.get("expired") and not t.get("revoked")
                and "root" not in (t.get("policies") or [])]

    def leases(self):
        out = self.api("GET", "/admin/leases")
        return out.get("leases", out) if isinstance(out, dict) else out

    def counters(self):
        return self.api("GET", "/admin/counters")

    def requests_to(self, path_fragment):
        c = self.counters()
        return sum(r["count"] for r in c.get("requests", []) if path_fragment in r["path"])

    def fault(self, **kw):
        return self.api("POST", "/admin/faults", kw)

    def clear_faults(self):
        return self.api("DELETE", "/admin/faults")

    def write_secret(self, mount, path, data):
        return self.api("POST", "/admin/secrets", {"mount": mount, "path": path, "data": data})

    def set_role(self, mount, name, role):
        return self.api("POST", "/admin/roles", {"mount": mount, "name": name, "role": role})

    # ---- tokens as kubelet gets them ----
    def mint_jwt(self, namespace="default", sa="app", audience="vault", ttl=3600,
                 pod="app-0", pod_uid="00000000-0000-0000-0000-000000000001", exp=None):
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": "test"}
        claims = {
            "aud": [audience], "exp": exp if exp is not None else now + ttl, "iat": now,
            "nbf": now, "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": "system:serviceaccount:%s:%s" % (namespace, sa),
            "kubernetes.io": {"namespace": namespace,
                              "pod": {"name": pod, "uid": pod_uid},
                              "serviceaccount": {"name": sa, "uid": "sa-uid"}},
        }
        signing_input = (_b64(json.dumps(header).encode()) + "." +
                         _b64(json.dumps(claims).encode())).encode()
        sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + _b64(sig)

    @staticmethod
    def tokens_json(jwt, audience="vault", expires="2099-01-01T00:00:00Z"):
        return json.dumps({audience: {"token": jwt, "expirationTimestamp": expires}},
                          sort_keys=True, separators=(",", ":"))

    def daemon_args(self):
        args = ["--vault-address=" + self.addr]
        if self.ca_file:
            args.append("--vault-ca-file=" + self.ca_file)
        else:
            args.append("--vault-allow-http=true")
        return args
