#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Rotation benchmark: prints what it measures (targets live in docs/rotation.md).

Workload: N volumes (default 110) x 3 secrets each (objects):
  - a KV v2 secret, refreshed every 2 min;
  - database credentials (username + password files), 1 h leases, 24 h max TTL;
  - a PKI certificate (cert + key files), 24 h lifetime;
  the Vault role's tokens: token_ttl 1 h, token_max_ttl 24 h.

Time is compressed: every duration is divided by SCALE (default 100, so 1 h
simulated = 36 s). Both models run one simulated hour of steady state against
the same Vault dev server, after every volume is published (the initial
publish, the same for both, is not counted):

  ours  - the real vaultmountd: lease-aware refresh (KV re-read every
          interval, leases and token renewed at 2/3, certificates re-issued
          at 2/3 of their lifetime);
  peers - the peers' model (docs/peers.md: secrets-store + vault-csi-provider
          rotation), written here as a client of the dev server: every 2 min
          each pod re-reads every object with its cached Vault token (new
          credentials and a new certificate each time), logging in again
          only after a 403.

Printed: Vault requests, leases created and certificates issued per pod-hour
for both models and their ratios; the KV freshness of both (how long after a
change a pod's file shows it); whether any credential was seen expired.
Targets: >= 2.5x fewer requests, >= 20x fewer leases, >= 100x fewer
certificates, and no file older than its interval plus one backoff step.

Run as root: `meson test -C build --benchmark --verbose rotation` or
`/usr/bin/python3 test/bench/bench_rotation.py [N] [SCALE]`.
"""
import datetime
import http.client
import json
import os
import pathlib
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import vmtest  # noqa: E402
from vaultenv import VaultDev  # noqa: E402
from test_publish import Pod, mounts_under  # noqa: E402

HOUR = 3600.0
KV_INTERVAL = 120.0
LEASE_TTL, LEASE_MAX = 3600, 24 * 3600
CERT_TTL = 24 * 3600
TOKEN_TTL, TOKEN_MAX = 3600, 24 * 3600


def scaled(sec, scale):
    return sec / scale


def dur(sec):
    """Seconds as a Go duration string the dev server and the daemon accept."""
    ms = int(round(sec * 1000))
    return "%dms" % ms if ms % 1000 else "%ds" % (ms // 1000)


def objects(i, scale):
    cert_ttl = "%ds" % max(1, int(round(CERT_TTL / scale)))
    return ("- objectName: password\n  secretPath: secret/data/bench/kv\n  secretKey: password\n"
            "- objectName: db-user\n  secretPath: database/creds/bench\n  secretKey: username\n"
            "- objectName: db-pass\n  secretPath: database/creds/bench\n  secretKey: password\n"
            "- objectName: tls.crt\n  secretPath: pki/issue/example-dot-com\n"
            "  secretKey: certificate\n"
            "  secretArgs: {common_name: p%d.example.com, ttl: %s}\n"
            "- objectName: tls.key\n  secretPath: pki/issue/example-dot-com\n"
            "  secretKey: private_key\n"
            "  secretArgs: {common_name: p%d.example.com, ttl: %s}\n") % (i, cert_ttl, i, cert_ttl)


def setup_vault(vault, scale):
    vault.api("POST", "/admin/roles", {"mount": "database", "name": "bench", "role": {
        "default_ttl": "%ds" % round(LEASE_TTL / scale),
        "max_ttl": "%ds" % round(LEASE_MAX / scale)}})
    vault.api("POST", "/admin/roles", {"mount": "auth/kubernetes", "name": "bench", "role": {
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"],
        "audience": "vault",
        "token_policies": ["kv-read", "db-creds", "pki-issue", "lease-admin"],
        "token_ttl": "%ds" % round(TOKEN_TTL / scale),
        "token_max_ttl": "%ds" % round(TOKEN_MAX / scale)}})
    vault.write_secret("secret", "bench/kv", {"password": "v0"})


class KvChanger(threading.Thread):
    """Writes a new KV version every `period` s and remembers when."""

    def __init__(self, vault, period, stop):
        super().__init__(daemon=True)
        self.vault, self.period, self.stop = vault, period, stop
        self.writes = {}  # value -> time written

    def run(self):
        n = 0
        while not self.stop.wait(self.period):
            n += 1
            value = "v%d" % n
            t = time.time()
            self.vault.write_secret("secret", "bench/kv", {"password": value})
            self.writes[value] = t


def counters_summary(vault):
    c = vault.counters()
    total = sum(r["count"] for r in c.get("requests", []))
    by = {}
    for r in c.get("requests", []):
        p = r["path"]
        key = ("login" if "/login" in p else "kv" if p.startswith("/v1/secret/") else
               "db-creds" if "/creds/" in p else "pki-issue" if "/issue/" in p else
               "lease-renew" if "leases/renew" in p else "lease-revoke" if "leases/revoke" in p
               else "token-renew" if "renew-self" in p else "token-revoke" if "revoke-self" in p
               else "token-lookup" if "lookup-self" in p else p)
        by[key] = by.get(key, 0) + r["count"]
    issued = sum(r["count"] for r in c.get("requests", [])
                 if "/issue/" in r["path"] and 200 <= r["status"] < 300)
    return total, by, issued


def leases_created(vault, t0, t1):
    return len([le for le in vault.leases()
                if le["path"].startswith("database/creds/bench") and t0 <= le["issue_time"] < t1])


# ---- our model: the real daemon ----------------------------------------------

def run_ours(vault, tmp, n, scale, window, kv_period):
    pods_dir = pathlib.Path(tmp) / "kubelet" / "pods"
    pods_dir.mkdir(parents=True)
    state = pathlib.Path(tmp) / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m,mode=0700", "tmpfs", str(state)],
                   check=True)
    backoff_min = scaled(5, scale)
    args = ["--state-dir=%s" % state, "--target-roots=%s" % pods_dir, "--log-level=info",
            "--workers=8", "--test-refresh-interval-min=%s" % dur(scaled(KV_INTERVAL, scale)),
            "--refresh-interval=%s" % dur(scaled(KV_INTERVAL, scale)),
            "--refresh-backoff-min=%s" % dur(backoff_min),
            "--refresh-backoff-max=%s" % dur(scaled(300, scale)),
            # the node's defaults (20/s, burst 40) on the compressed clock
            "--refresh-rate=%d" % (20 * scale), "--refresh-burst=%d" % (40 * scale)]
    d = vmtest.Daemon(tmp, args=args + vault.daemon_args(), name="node")
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(str(state))]
    pods = [Pod(pods_dir, name="p%d" % i) for i in range(n)]
    result = {}
    try:
        d.start()
        t0 = time.time()
        errors = []

        def publish(chunk):
            for i in chunk:
                try:
                    d.call("NodePublishVolume", pods[i].publish_request(
                        vault, {"roleName": "bench", "objects": objects(i, scale)}),
                        timeout=120)
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
        ths = [threading.Thread(target=publish, args=(range(k, n, 8),)) for k in range(8)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        if errors:
            raise AssertionError("publish failed: %s" % errors[:3])
        result["publish_s"] = time.time() - t0

        # steady state: counters from zero, a KV change every kv_period
        vault.api("POST", "/admin/counters/reset", {})
        stop = threading.Event()
        changer = KvChanger(vault, kv_period, stop)
        seen = {}      # (pod, value) -> first time seen
        expired = []
        sample = pods[:: max(1, n // 20)]

        def sampler():
            while not stop.is_set():
                for p in sample:
                    try:
                        v = (p.target / "password").read_text()
                    except OSError:
                        continue
                    seen.setdefault((p.uid, v), time.time())
                time.sleep(0.02)

        def validity():
            from cryptography import x509
            while not stop.wait(0.5):
                live = {le["username"]: le for le in vault.leases()
                        if le["path"].startswith("database/creds/bench")}
                now = time.time()
                for p in sample:
                    user = (p.target / "db-user").read_text()
                    le = live.get(user)
                    end = min(le["expire_time"], le["revoked_time"] or le["expire_time"]) \
                        if le else 0
                    if end < now - 0.05:
                        expired.append(("lease", p.name))
                    crt = x509.load_pem_x509_certificate((p.target / "tls.crt").read_bytes())
                    na = crt.not_valid_after.replace(tzinfo=datetime.timezone.utc)
                    if na.timestamp() < now:
                        expired.append(("cert", p.name))

        w0 = time.time()
        threads = [threading.Thread(target=sampler, daemon=True),
                   threading.Thread(target=validity, daemon=True)]
        changer.start()
        for t in threads:
            t.start()
        time.sleep(window)
        stop.set()
        changer.join()
        for t in threads:
            t.join()
        w1 = time.time()
        total, by, issued = counters_summary(vault)
        result.update(requests=total, by=by, certs=issued,
                      leases=leases_created(vault, w0, w1), window=w1 - w0,
                      expired=expired)
        lags = []
        for value, tw in changer.writes.items():
            for p in sample:
                ts = seen.get((p.uid, value))
                # never seen: the file skipped a version (stale for too long)
                lags.append(ts - tw if ts is not None else float("inf"))
        result["kv_lags"] = lags

        for p in pods:
            d.call("NodeUnpublishVolume", p.unpublish_request(), timeout=60)
    finally:
        if d.proc and d.proc.poll() is None:
            d.stop()
        for mp in sorted(mounts_under(tmp), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
    log = d.log
    for marker in vmtest.SANITIZER_MARKERS:
        if marker in log:
            raise AssertionError("sanitizer report in the daemon log")
    return result


# ---- the peers' model, as a client of the dev server ----------------------------

class PeerClient:
    """One keep-alive connection to the dev server (per thread)."""

    def __init__(self, vault):
        u = urllib.parse.urlparse(vault.addr)
        if u.scheme == "https":
            ctx = ssl.create_default_context(cafile=vault.ca_file)
            self.conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
        else:
            self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, method, path, token=None, body=None):
        headers = {"X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                if attempt:
                    raise
        return 0, None


class PeerPod:
    def __init__(self, vault, i, scale):
        self.i = i
        self.jwt = vault.mint_jwt(pod="peer-%d" % i, pod_uid="peer-uid-%d" % i)
        self.token = None
        self.cert_ttl = "%ds" % max(1, int(round(CERT_TTL / scale)))

    def login(self, c):
        st, body = c.call("POST", "/v1/auth/kubernetes/login", None,
                          {"role": "bench", "jwt": self.jwt})
        self.token = body["auth"]["client_token"] if st == 200 else None

    def read(self, c, method, path, body=None):
        # vault-csi-provider: on a 403 log in again once and retry once
        st, resp = c.call(method, path, self.token, body)
        if st == 403:
            self.login(c)
            st, resp = c.call(method, path, self.token, body)
        return st, resp

    def rotate(self, c):
        """One rotation: every object read again (SSCSI re-mounts, VCP re-reads)."""
        st, kv = self.read(c, "GET", "/v1/secret/data/bench/kv")
        self.read(c, "GET", "/v1/database/creds/bench")
        self.read(c, "POST", "/v1/pki/issue/example-dot-com",
                  {"common_name": "p%d.example.com" % self.i, "ttl": self.cert_ttl})
        return kv["data"]["data"]["password"] if st == 200 else None


def run_peers(vault, n, scale, window, kv_period, threads=10):
    interval = scaled(KV_INTERVAL, scale)
    pods = [PeerPod(vault, i, scale) for i in range(n)]
    # first mount (not counted): login and read everything
    c0 = PeerClient(vault)
    for p in pods:
        p.login(c0)
        p.rotate(c0)
    vault.api("POST", "/admin/counters/reset", {})
    stop = threading.Event()
    changer = KvChanger(vault, kv_period, stop)
    seen = {}
    late = [0]
    w0 = time.time()

    def worker(k):
        c = PeerClient(vault)
        mine = pods[k::threads]
        # spread the pods over the interval, as kubelets' timers would be
        due = {p.i: w0 + interval * (p.i / n) for p in mine}
        while not stop.is_set():
            p = min(mine, key=lambda q: due[q.i])
            wait = due[p.i] - time.time()
            if wait > 0:
                if stop.wait(wait):
                    break
            elif wait < -interval / 2:
                late[0] += 1
            v = p.rotate(c)
            if v is not None:
                seen.setdefault((p.i, v), time.time())
            due[p.i] += interval

    ths = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    changer.start()
    for t in ths:
        t.start()
    time.sleep(window)
    stop.set()
    changer.join()
    for t in ths:
        t.join()
    w1 = time.time()
    total, by, issued = counters_summary(vault)
    lags = []
    for value, tw in changer.writes.items():
        for p in pods[:: max(1, n // 20)]:
            ts = seen.get((p.i, value))
            if ts is not None:
                lags.append(ts - tw)
    return dict(requests=total, by=by, certs=issued, leases=leases_created(vault, w0, w1),
                window=w1 - w0, kv_lags=lags, late=late[0])


def per_pod_hour(x, n, window, scale):
    return x / n / (window / scaled(HOUR, scale))


def ratio(a, b):
    return "inf" if b == 0 else "%.1fx" % (a / b)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 110
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    window = scaled(HOUR, scale)
    kv_period = scaled(5 * 60, scale) * 1.01  # a new KV version every ~5 simulated minutes
    tmp = tempfile.mkdtemp(prefix="vm-bench-rotation-")
    vault = VaultDev(tmp, extra_args=["--quiet"])
    t_start = time.time()
    try:
        setup_vault(vault, scale)
        print("rotation benchmark: %d volumes x 3 secrets (KV every 2 min, DB lease 1 h / 24 h "
              "max, PKI 24 h, token 1 h / 24 h max), one simulated hour = %.0f s (scale 1/%g)"
              % (n, window, scale))
        ours = run_ours(vault, os.path.join(tmp, "ours"), n, scale, window, kv_period)
        peers = run_peers(vault, n, scale, window, kv_period)
    finally:
        vault.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # run_ours unmounted what it mounted

    iv = scaled(KV_INTERVAL, scale)
    step = scaled(5, scale)
    rows = [("Vault requests", "requests"), ("leases created", "leases"),
            ("certificates issued", "certs")]
    print("\nper pod-hour (steady state, initial publish excluded; %d pods):" % n)
    print("  %-22s %12s %12s %10s" % ("", "vaultmount", "peers", "ratio"))
    figs = {}
    for label, key in rows:
        a = per_pod_hour(ours[key], n, ours["window"], scale)
        b = per_pod_hour(peers[key], n, peers["window"], scale)
        figs[key] = (a, b)
        print("  %-22s %12.2f %12.2f %10s" % (label, a, b, ratio(b, a)))
    print("  vaultmount requests by kind: %s" % json.dumps(ours["by"], sort_keys=True))
    print("  peers requests by kind:      %s" % json.dumps(peers["by"], sort_keys=True))
    print("  long run (analytic) for vaultmount: one lease per 24 h max TTL = %.3f leases and "
          "one certificate per 16 h = %.3f certificates per pod-hour"
          % (1 / 24.0, 1 / 16.0))

    def lagline(name, lags):
        fin = [x for x in lags if x != float("inf")]
        missed = len(lags) - len(fin)
        if not fin:
            return "  %s: no samples" % name
        fin.sort()
        return ("  %s: KV change visible after p50 %.2f s, max %.2f s (= %.0f s, %.0f s "
                "simulated), %d changes x pods sampled, %d missed"
                % (name, fin[len(fin) // 2], fin[-1], fin[len(fin) // 2] * scale,
                   fin[-1] * scale, len(lags), missed))
    print("\nKV freshness (interval %.2f s = 2 min simulated; bound interval + one backoff "
          "step = %.2f s):" % (iv, iv + step))
    print(lagline("vaultmount", ours["kv_lags"]))
    print(lagline("peers     ", peers["kv_lags"]))
    if peers["late"]:
        print("  peers' client fell behind its schedule %d times" % peers["late"])
    print("expired credentials or certificates seen (vaultmount): %d" % len(ours["expired"]))
    print("publish of %d volumes took %.1f s; wall time %.0f s"
          % (n, ours["publish_s"], time.time() - t_start))

    ok = True
    req_ratio = figs["requests"][1] / max(figs["requests"][0], 1e-9)
    lease_ratio = figs["leases"][1] / max(figs["leases"][0], 1e-9)
    cert_ratio = figs["certs"][1] / max(figs["certs"][0], 1e-9)
    max_lag = max(ours["kv_lags"] or [0])
    # sampling resolution (20 ms) and the sampler's own loop add a little
    checks = [("requests >= 2.5x fewer", req_ratio >= 2.5),
              ("leases >= 20x fewer", figs["leases"][0] == 0 or lease_ratio >= 20),
              ("certificates >= 100x fewer", figs["certs"][0] == 0 or cert_ratio >= 100),
              ("no KV file older than interval + one backoff step",
               max_lag <= iv + step + 0.15),
              ("no expired credential seen", not ours["expired"])]
    print("\ntargets:")
    for name, good in checks:
        print("  %-52s %s" % (name, "met" if good else "NOT MET"))
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
