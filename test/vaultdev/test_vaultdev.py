# SPDX-License-Identifier: Apache-2.0
"""Tests of the vaultdev server itself. Run:
    /usr/bin/python3 -m pytest -q test/vaultdev

Every test talks to a real server subprocess (port 0, ready file in a temp
dir) with stdlib http.client/ssl/json; JWTs are minted with cryptography."""

import base64
import datetime
import http.client
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "vaultdev.py")
PYTHON = "/usr/bin/python3"

PERM_DENIED = "1 error occurred:\n\t* permission denied\n\n"
INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
ENVELOPE_KEYS = ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
                 "warnings", "auth"]
AUTH_KEYS = ["client_token", "accessor", "policies", "token_policies", "metadata",
             "lease_duration", "renewable", "entity_id", "token_type", "orphan",
             "mfa_requirement", "num_uses"]


# ----------------------------------------------------------------------------- keys, JWTs

def _pub_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="session")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1())}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint(key, claims, alg="RS256"):
    header = {"alg": alg, "typ": "JWT", "kid": "test"}
    si = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
    if alg == "RS256":
        sig = key.sign(si, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(si, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(alg)
    return si.decode() + "." + b64u(sig)


def sa_claims(ns="test", sa="nginx-kv", aud=("vault",), exp_in=600, nbf_in=0,
              iss="https://kubernetes.default.svc.cluster.local", legacy=False, sub=None):
    now = int(time.time())
    c = {"iss": iss, "sub": sub or "system:serviceaccount:%s:%s" % (ns, sa), "aud": list(aud),
         "exp": now + exp_in, "iat": now, "nbf": now + nbf_in}
    if legacy:
        c.update({"kubernetes.io/serviceaccount/namespace": ns,
                  "kubernetes.io/serviceaccount/secret.name": sa + "-token-abcde",
                  "kubernetes.io/serviceaccount/service-account.name": sa,
                  "kubernetes.io/serviceaccount/service-account.uid": "uid-" + sa})
    else:
        c["kubernetes.io"] = {"namespace": ns, "pod": {"name": "pod-1", "uid": "pod-uid-1"},
                              "serviceaccount": {"name": sa, "uid": "uid-" + sa}}
    return c


# ----------------------------------------------------------------------------- client

class R:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def keys(self):
        return list(json.loads(self.body).keys())


class VD:
    """A running server plus helpers."""

    def __init__(self, proc, info, tmp, errpath):
        self.proc = proc
        self.info = info
        self.tmp = tmp
        self.errpath = errpath
        u = urllib.parse.urlsplit(info["addr"])
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port
        a = urllib.parse.urlsplit(info["admin_addr"])
        self.ahost, self.aport = a.hostname, a.port
        self.ctx = ssl.create_default_context(cafile=info["ca_file"]) if self.https else None

    def conn(self, port=None, host=None):
        host = host or self.host
        if self.https:
            return http.client.HTTPSConnection(host, port or self.port, context=self.ctx,
                                               timeout=15)
        return http.client.HTTPConnection(host, port or self.port, timeout=15)

    def call(self, method, path, body=None, token=None, headers=None, conn=None, ns=None,
             port=None):
        h = {"X-Vault-Request": "true"}
        if token:
            h["X-Vault-Token"] = token
        if ns:
            h["X-Vault-Namespace"] = ns
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        c = conn or self.conn(port)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            out = R(r.status, r.getheaders(), r.read())
        finally:
            if conn is None:
                c.close()
        return out

    def admin(self, method, path, body=None):
        c = http.client.HTTPConnection(self.ahost, self.aport, timeout=15)
        try:
            c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())
        finally:
            c.close()

    def adm(self, method, path, body=None):
        st, js = self.admin(method, path, body)
        assert st == 200, (path, st, js)
        return js

    def token(self, policies, **kw):
        body = {"policies": policies}
        body.update(kw)
        return self.adm("POST", "/admin/tokens", body)["token"]

    def login(self, role, jwt, mount="kubernetes", ns=None):
        return self.call("POST", "/v1/auth/%s/login" % mount, {"role": role, "jwt": jwt}, ns=ns)

    def stderr(self):
        with open(self.errpath, "r", errors="replace") as f:
            return f.read()


def start_server(tmp, config=None, args=()):
    os.makedirs(tmp, exist_ok=True)
    ready = os.path.join(tmp, "ready.json")
    cmd = [PYTHON, SERVER, "--ready-file", ready]
    if config is not None:
        cpath = os.path.join(tmp, "config.json")
        with open(cpath, "w") as f:
            json.dump(config, f)
        cmd += ["--config", cpath]
    cmd += list(args)
    errpath = os.path.join(tmp, "stderr.log")
    err = open(errpath, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    line = proc.stdout.readline()       # blocks until the server says it is ready
    if not line.startswith("vaultdev ready "):
        proc.kill()
        raise RuntimeError("server did not start: %r\n%s" % (line, open(errpath).read()))
    with open(ready) as f:
        info = json.load(f)
    assert line.split()[2] == info["addr"]
    return VD(proc, info, tmp, errpath)


def stop_server(vd):
    if vd.proc.poll() is None:
        vd.proc.send_signal(signal.SIGTERM)
        try:
            vd.proc.wait(10)
        except subprocess.TimeoutExpired:
            vd.proc.kill()
            vd.proc.wait()
    vd.proc.stdout.close()


def main_config(keys):
    pub = _pub_pem(keys["rsa"])
    ecpub = _pub_pem(keys["ec"])
    token_pols = ["kv-read", "db", "pki"]
    return {
        "policies": {
            "kv-read": {"path": {"secret/data/*": {"capabilities": ["read"]},
                                 "secret/metadata/*": {"capabilities": ["read", "list"]},
                                 "kv/*": {"capabilities": ["read", "list"]}}},
            "kv-write": {"path": {"secret/*": {"capabilities": ["create", "read", "update",
                                                                "delete", "list"]},
                                  "kv/*": {"capabilities": ["create", "read", "update",
                                                            "delete", "list"]}}},
            "kv-create-only": [{"path": "kv/new/*", "capabilities": ["create"]}],
            "db": {"path": {"database/creds/*": {"capabilities": ["read", "update"]},
                            "sys/leases/revoke": {"capabilities": ["update"]}}},
            "pki": {"path": {"pki/issue/*": {"capabilities": ["create", "update", "read"]},
                             "pki/cert/*": {"capabilities": ["read"]}}},
            "acl-test": '''
                path "acl/+/config" { capabilities = ["read"] }
                path "acl/team/*"   { capabilities = ["read", "list"] }
                path "acl/team/secret" { capabilities = ["deny"] }
                path "acl/prio/*"   { capabilities = ["list"] }
            ''',
        },
        "mounts": {
            "secret": {"type": "kv", "options": {"version": "2"},
                       "data": {"app/config": {"user": "u1", "password": "p1"}}},
            "kv": {"type": "kv", "version": 1,
                   "data": {"app/plain": {"k": "v", "n": 5432, "html": "<a&b>"},
                            "app/ttl": {"k": "v", "ttl": "1h"}}},
            "acl": {"type": "kv", "version": 1,
                    "data": {"x/config": {"a": 1}, "x/y/config": {"a": 2}, "team/a": {"a": 3},
                             "team/secret": {"a": 4}, "prio/config": {"a": 5},
                             "other": {"a": 6}}},
            "database": {"type": "database",
                         "roles": {"readonly": {"default_ttl": "1h", "max_ttl": "2h"},
                                   "short": {"default_ttl": 2, "max_ttl": 5}}},
            "pki": {"type": "pki", "max_lease_ttl": "720h",
                    "roles": {"web": {"allowed_domains": ["example.com"],
                                      "allow_subdomains": True, "ttl": "1h",
                                      "max_ttl": "2h", "key_type": "ec"},
                              "leased": {"allowed_domains": ["example.com"],
                                         "allow_subdomains": True, "key_type": "ec",
                                         "generate_lease": True, "max_ttl": "1h"},
                              "rsa": {"allow_any_name": True, "key_type": "rsa"}}},
            "auth/kubernetes": {
                "type": "kubernetes",
                "config": {"pem_keys": [pub]},
                "roles": {
                    "kv-role": {"bound_service_account_names": ["nginx-kv"],
                                "bound_service_account_namespaces": ["test"],
                                "audience": "vault", "token_policies": token_pols,
                                "token_ttl": "1h", "token_max_ttl": "2h"},
                    "wild": {"bound_service_account_names": ["app-*"],
                             "bound_service_account_namespaces": ["*"],
                             "token_policies": ["kv-read"], "token_ttl": 60,
                             "token_max_ttl": 90},
                    "cidr": {"bound_service_account_names": ["*"],
                             "bound_service_account_namespaces": ["*"],
                             "token_bound_cidrs": ["10.0.0.0/8"]},
                    "periodic": {"bound_service_account_names": ["*"],
                                 "bound_service_account_namespaces": ["*"],
                                 "token_period": 30, "token_policies": ["kv-read"]},
                    "nodefault": {"bound_service_account_names": ["*"],
                                  "bound_service_account_namespaces": ["*"],
                                  "token_no_default_policy": True,
                                  "token_policies": ["kv-read"]},
                }},
            "auth/k8s-iss": {
                "type": "kubernetes",
                "config": {"pem_keys": [pub], "issuer": "https://issuer.test",
                           "disable_iss_validation": False},
                "roles": {"r": {"bound_service_account_names": ["*"],
                                "bound_service_account_namespaces": ["*"]}}},
            "auth/k8s-nokeys": {
                "type": "kubernetes", "config": {},
                "roles": {"r": {"bound_service_account_names": ["*"],
                                "bound_service_account_namespaces": ["*"]}}},
            "auth/k8s-noconfig": {
                "type": "kubernetes", "config": None,
                "roles": {"r": {"bound_service_account_names": ["*"],
                                "bound_service_account_namespaces": ["*"]}}},
            "auth/jwt": {
                "type": "jwt",
                "config": {"jwt_validation_pubkeys": [pub], "bound_issuer": "https://k8s.test"},
                "roles": {
                    "jwt-kv-role": {"role_type": "jwt", "bound_audiences": ["vault"],
                                    "user_claim": "sub",
                                    "bound_subject": "system:serviceaccount:test:nginx-kv",
                                    "token_policies": ["kv-read"], "token_ttl": "30m",
                                    "claim_mappings": {"/kubernetes.io/namespace": "k8s_ns"}},
                    "claims": {"role_type": "jwt", "bound_audiences": ["vault"],
                               "user_claim": "sub", "bound_claims_type": "glob",
                               "bound_claims": {"/kubernetes.io/namespace": ["prod-*"]}},
                    "noaud": {"role_type": "jwt", "user_claim": "sub",
                              "bound_subject": "system:serviceaccount:test:nginx-kv"},
                    "usr": {"role_type": "jwt", "bound_audiences": ["vault"],
                            "user_claim": "email"},
                    "oidc": {"role_type": "oidc", "user_claim": "sub"},
                }},
            "auth/jwt-ec": {
                "type": "jwt",
                "config": {"jwt_validation_pubkeys": [ecpub],
                           "jwt_supported_algs": ["ES256"], "default_role": "d"},
                "roles": {"d": {"role_type": "jwt", "bound_audiences": ["vault"],
                                "user_claim": "sub"}}},
        },
        "namespaces": {
            "team-a": {
                "policies": {"kv-read": {"path": {"secret/data/*": {"capabilities": ["read"]},
                                                  "database/creds/*": {"capabilities":
                                                                       ["read"]}}}},
                "mounts": {
                    "secret": {"type": "kv-v2", "data": {"app/config": {"team": "a"}}},
                    "database": {"type": "database",
                                 "roles": {"readonly": {"default_ttl": 60, "max_ttl": 120}}},
                    "auth/kubernetes": {
                        "type": "kubernetes", "config": {"pem_keys": [pub]},
                        "roles": {"kv-role": {"bound_service_account_names": ["*"],
                                              "bound_service_account_namespaces": ["*"],
                                              "token_policies": ["kv-read"]}}}}},
            "team-a/sub": {
                "mounts": {"secret": {"type": "kv-v2", "data": {"x": {"sub": True}}}}},
            "team-b": {
                "policies": {"kv-read": {"path": {"secret/data/*": {"capabilities": ["read"]}}}},
                "mounts": {"secret": {"type": "kv-v2", "data": {"app/config": {"team": "b"}}}}},
        },
    }


@pytest.fixture(scope="module")
def vd(tmp_path_factory, keys):
    s = start_server(str(tmp_path_factory.mktemp("main")), main_config(keys),
                     ["--standby-port", "0"])
    yield s
    stop_server(s)


@pytest.fixture(autouse=True)
def _clean(request):
    """Faults, clock and HA state never leak from one test into the next."""
    yield
    if "vd" in request.fixturenames:
        s = request.getfixturevalue("vd")
        s.admin("DELETE", "/admin/faults")
        s.admin("POST", "/admin/clock", {"offset": 0})
        s.admin("POST", "/admin/state", {"sealed": False, "standby": False,
                                          "initialized": True, "active_addr": "",
                                          "flavor": "vault"})


@pytest.fixture()
def kv_token(vd, keys):
    r = vd.login("kv-role", mint(keys["rsa"], sa_claims()))
    assert r.status == 200, r.body
    return r.json()["auth"]["client_token"]


# ----------------------------------------------------------------------------- startup, TLS

def test_ready_file_and_tls(vd):
    info = vd.info
    for k in ("addr", "admin_addr", "ca_file", "pid", "standby_addr"):
        assert info.get(k), k
    assert info["pid"] == vd.proc.pid
    assert info["addr"].startswith("https://127.0.0.1:")
    with open(info["ca_file"]) as f:
        ca = x509.load_pem_x509_certificate(f.read().encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Verified TLS by IP and by "localhost".
    for host in ("127.0.0.1", "localhost"):
        r = vd.call("GET", "/v1/sys/health", conn=vd.conn(host=host))
        assert r.status == 200
    # The server cert carries both SANs.
    with socket.create_connection((vd.host, vd.port)) as raw:
        with vd.ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)


def test_keepalive_and_content_length(vd, kv_token):
    before = vd.adm("GET", "/admin/counters")["connections"]
    c = vd.conn()
    try:
        for path in ("/v1/sys/health", "/v1/secret/data/app/config", "/v1/kv/app/plain",
                     "/v1/secret/data/nope", "/v1/auth/token/lookup-self"):
            r = vd.call("GET", path, token=kv_token, conn=c)
            assert r.header("Content-Length") == str(len(r.body)), path
        r = vd.call("POST", "/v1/kv/app/plain", {"x": 1}, token=kv_token, conn=c)
        assert r.status == 403
        r = vd.call("GET", "/v1/sys/health", conn=c)
        assert r.status == 200
    finally:
        c.close()
    after = vd.adm("GET", "/admin/counters")["connections"]
    assert after - before == 1          # seven requests, one TCP connection
    log = vd.adm("GET", "/admin/requests")["requests"]
    assert log[-1]["x_vault_request"] == "true"


# ----------------------------------------------------------------------------- conventions

def test_request_conventions(vd, kv_token):
    # Outside /v1/ -> 404.
    assert vd.call("GET", "/foo").status == 404
    # Unknown HTTP method -> 405 with an empty errors list.
    r = vd.call("OPTIONS", "/v1/secret/data/app/config", token=kv_token)
    assert r.status == 405 and r.json() == {"errors": []}
    # Bad JSON and non-object JSON -> 400.
    for body in (b"{not json", b"[1,2]", b'"str"'):
        r = vd.call("PUT", "/v1/auth/kubernetes/login", body)
        assert r.status == 400 and r.json() == {"errors": ["error parsing JSON"]}, body
    # A body on GET is ignored.
    r = vd.call("GET", "/v1/kv/app/plain", b"{garbage", token=kv_token)
    assert r.status == 200
    # Response headers and framing; <, >, & escaped like Go.
    assert r.header("Cache-Control") == "no-store"
    assert r.header("Content-Type") == "application/json"
    assert r.body.endswith(b"}\n")
    assert b"\\u003ca\\u0026b\\u003e" in r.body
    assert r.json()["data"]["html"] == "<a&b>"
    assert r.keys() == ENVELOPE_KEYS + ["mount_type"]
    # Authorization: Bearer works; X-Vault-Token wins when both are sent.
    r = vd.call("GET", "/v1/kv/app/plain", headers={"Authorization": "Bearer " + kv_token})
    assert r.status == 200
    r = vd.call("GET", "/v1/kv/app/plain", token="hvs.bogus",
                headers={"Authorization": "Bearer " + kv_token})
    assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}
    # Form-encoded body.
    tok = vd.token(["kv-write"])
    r = vd.call("POST", "/v1/kv/form/x", b"a=1&b=two", token=tok,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 204 and r.body == b""
    assert r.header("Content-Type") == "application/json"
    assert vd.call("GET", "/v1/kv/form/x", token=tok).json()["data"] == {"a": "1", "b": "two"}
    # PATCH without merge-patch content type -> 415.
    r = vd.call("PATCH", "/v1/secret/data/app/config", {"data": {}}, token=tok)
    assert r.status == 415
    # Unsupported operation on a known path.
    r = vd.call("GET", "/v1/pki/issue/web", token=vd.token(["pki"]))
    assert r.status == 405
    assert r.json() == {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}


def test_no_token_invalid_token_and_unknown_paths(vd, kv_token):
    r = vd.call("GET", "/v1/secret/data/app/config")
    assert r.status == 403 and r.json() == {"errors": [PERM_DENIED]}
    r = vd.call("GET", "/v1/secret/data/app/config", token="hvs.not-a-token")
    assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}
    root = vd.token(["root"])
    r = vd.call("GET", "/v1/nomount/data/x", token=root)
    assert r.status == 404
    assert r.json() == {"errors": ['no handler for route "nomount/data/x". route entry not found.']}
    r = vd.call("GET", "/v1/database/whatever", token=root)
    assert r.status == 404 and r.json() == {"errors": ["1 error occurred:\n\t* unsupported path\n\n"]}
    r = vd.call("GET", "/v1/sys/nothing-here", token=root)
    assert r.status == 404
    # Unknown auth mount login is not a login path: token checks apply.
    r = vd.call("POST", "/v1/auth/nope/login", {"role": "r", "jwt": "x"})
    assert r.status == 403


def test_body_cap_connection_cap_request_header(tmp_path, keys):
    s = start_server(str(tmp_path), main_config(keys),
                     ["--max-body", "2048", "--http", "--max-connections", "2",
                      "--require-request-header"])
    try:
        assert s.info["addr"].startswith("http://") and s.info["ca_file"] is None
        r = s.call("PUT", "/v1/auth/kubernetes/login", b"{" + b" " * 4096 + b"}")
        assert r.status == 413 and r.json() == {"errors": ["error parsing JSON"]}
        assert r.header("Connection") == "close"
        r = s.call("PUT", "/v1/auth/kubernetes/login", b"{" + b" " * 4096 + b"}",
                   headers={"Expect": "100-continue"})
        assert r.status == 413
        # Agent/Proxy-style guard.
        r = s.call("GET", "/v1/sys/health", headers={"X-Vault-Request": None})
        assert r.status == 412 and r.json() == {"errors": ["missing 'X-Vault-Request' header"]}
        assert s.call("GET", "/v1/sys/health").status == 200
        # Two connections held open; a third is closed without an answer.
        held = [s.conn(), s.conn()]
        for c in held:
            assert s.call("GET", "/v1/sys/health", conn=c).status == 200
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            s.call("GET", "/v1/sys/health")
        held[0].close()
        deadline = time.monotonic() + 5
        while True:     # the server notices the close asynchronously
            try:
                assert s.call("GET", "/v1/sys/health").status == 200
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        held[1].close()
    finally:
        stop_server(s)


# ----------------------------------------------------------------------------- health

def test_sys_health(vd):
    r = vd.call("GET", "/v1/sys/health")
    assert r.status == 200
    assert r.keys()[:8] == ["initialized", "sealed", "standby", "performance_standby",
                            "replication_performance_mode", "replication_dr_mode",
                            "server_time_utc", "version"]
    j = r.json()
    assert j["initialized"] and not j["sealed"] and not j["standby"]
    r = vd.call("HEAD", "/v1/sys/health")
    assert r.status == 200 and r.body == b""
    assert vd.call("GET", "/v1/sys/health?activecode=299").status == 299
    r = vd.call("GET", "/v1/sys/health?activecode=abc")
    assert r.status == 400 and "errors" in r.json()
    r = vd.call("POST", "/v1/sys/health")
    assert r.status == 405 and r.json() == {"errors": []}
    # Standby listener: 429, standbyok -> active code, standbycode override.
    sb = urllib.parse.urlsplit(vd.info["standby_addr"]).port
    r = vd.call("GET", "/v1/sys/health", port=sb)
    assert r.status == 429 and r.json()["standby"] is True
    assert vd.call("GET", "/v1/sys/health?standbyok=true", port=sb).status == 200
    assert vd.call("GET", "/v1/sys/health?standbycode=299", port=sb).status == 299
    # Sealed and uninitialized.
    vd.adm("POST", "/admin/state", {"sealed": True})
    r = vd.call("GET", "/v1/sys/health")
    assert r.status == 503 and r.json()["sealed"] is True
    assert vd.call("GET", "/v1/sys/health?sealedcode=200").status == 200
    vd.adm("POST", "/admin/state", {"sealed": False, "initialized": False})
    assert vd.call("GET", "/v1/sys/health").status == 501
    assert vd.call("GET", "/v1/sys/health?uninitcode=204").status == 204


def test_sealed_and_standby_modes(vd, kv_token):
    vd.adm("POST", "/admin/state", {"sealed": True})
    r = vd.call("GET", "/v1/secret/data/app/config", token=kv_token)
    assert r.status == 503 and r.json() == {"errors": ["Vault is sealed"]}
    r = vd.call("GET", "/v1/sys/seal-status")
    assert r.status == 200 and r.json()["sealed"] is True
    vd.adm("POST", "/admin/state", {"sealed": False, "standby": True})
    r = vd.call("GET", "/v1/secret/data/app/config", token=kv_token)
    assert r.status == 503 and r.json() == {"errors": ["no active Vault instance found"]}
    assert vd.call("GET", "/v1/sys/health").status == 429
    vd.adm("POST", "/admin/state", {"active_addr": "https://127.0.0.1:1"})
    r = vd.call("GET", "/v1/secret/data/app/config?version=1", token=kv_token)
    assert r.status == 307 and r.body == b""
    assert r.header("Location") == "https://127.0.0.1:1/v1/secret/data/app/config?version=1"


def test_standby_listener_redirects(vd, kv_token):
    sb = urllib.parse.urlsplit(vd.info["standby_addr"]).port
    r = vd.call("GET", "/v1/secret/data/app/config?version=1", token=kv_token, port=sb)
    assert r.status == 307 and r.body == b"" and r.header("Content-Length") == "0"
    loc = r.header("Location")
    assert loc == vd.info["addr"] + "/v1/secret/data/app/config?version=1"
    # Following it (same method, same token) works.
    u = urllib.parse.urlsplit(loc)
    r2 = vd.call("GET", u.path + "?" + u.query, token=kv_token, port=u.port)
    assert r2.status == 200 and r2.json()["data"]["data"]["user"] == "u1"
    # Logins redirect too.
    r = vd.call("POST", "/v1/auth/kubernetes/login", {"role": "x", "jwt": "y"}, port=sb)
    assert r.status == 307


# ----------------------------------------------------------------------------- kubernetes auth

def test_k8s_login_success(vd, keys):
    jwt = mint(keys["rsa"], sa_claims())
    r = vd.call("POST", "/v1/auth/kubernetes/login", {"role": "kv-role", "jwt": jwt},
                token="hvs.stale-token-is-ignored")
    assert r.status == 200, r.body
    assert r.keys() == ENVELOPE_KEYS + ["mount_type"]
    j = r.json()
    assert j["mount_type"] == "kubernetes" and j["data"] is None and j["lease_id"] == ""
    assert j["lease_duration"] == 0 and j["renewable"] is False and j["warnings"] is None
    a = j["auth"]
    assert list(a.keys()) == AUTH_KEYS
    assert a["client_token"].startswith("hvs.") and len(a["client_token"]) > 90
    assert len(a["accessor"]) == 24
    assert a["policies"] == ["db", "default", "kv-read", "pki"]
    assert a["token_policies"] == a["policies"]
    assert a["metadata"] == {"role": "kv-role", "service_account_name": "nginx-kv",
                             "service_account_namespace": "test",
                             "service_account_secret_name": "",
                             "service_account_uid": "uid-nginx-kv"}
    assert a["lease_duration"] == 3600 and a["renewable"] is True
    assert a["token_type"] == "service" and a["orphan"] is True
    assert a["mfa_requirement"] is None and a["num_uses"] == 0
    # Same service account -> same entity; PUT works like POST.
    r2 = vd.call("PUT", "/v1/auth/kubernetes/login", {"role": "kv-role", "jwt": jwt})
    assert r2.status == 200
    assert r2.json()["auth"]["entity_id"] == a["entity_id"]
    assert r2.json()["auth"]["client_token"] != a["client_token"]
    # Legacy (secret-based) token claims.
    r = vd.login("kv-role", mint(keys["rsa"], sa_claims(legacy=True)))
    assert r.status == 200
    assert r.json()["auth"]["metadata"]["service_account_secret_name"] == "nginx-kv-token-abcde"
    # Expired, but inside the 60 s leeway.
    assert vd.login("kv-role", mint(keys["rsa"], sa_claims(exp_in=-30))).status == 200
    # Glob names and wildcard namespaces.
    assert vd.login("wild", mint(keys["rsa"], sa_claims(ns="any", sa="app-7",
                                                        aud=()))).status == 200
    # GET on login -> 405.
    assert vd.call("GET", "/v1/auth/kubernetes/login").status == 405


@pytest.mark.parametrize("case", [
    "missing-role", "missing-jwt", "bad-role", "bad-sig", "expired", "nbf", "aud",
    "sa-name", "sa-ns", "glob-miss", "malformed", "sub-mismatch", "cidr", "iss", "nokeys",
    "noconfig"])
def test_k8s_login_errors(vd, keys, case):
    k = keys["rsa"]
    good = mint(k, sa_claims())
    table = {
        "missing-role": ("kubernetes", {"jwt": good}, 400, "missing role"),
        "missing-jwt": ("kubernetes", {"role": "kv-role"}, 400, "missing jwt"),
        "bad-role": ("kubernetes", {"role": "nope", "jwt": good}, 400,
                     'invalid role name "nope"'),
        "bad-sig": ("kubernetes", {"role": "kv-role", "jwt": mint(keys["other"], sa_claims())},
                    403, "permission denied"),
        "expired": ("kubernetes", {"role": "kv-role", "jwt": mint(k, sa_claims(exp_in=-120))},
                    403, "invalid expiration time (exp) claim: token is expired"),
        "nbf": ("kubernetes", {"role": "kv-role", "jwt": mint(k, sa_claims(nbf_in=300))},
                403, "invalid not before (nbf) claim: token not yet valid"),
        "aud": ("kubernetes", {"role": "kv-role", "jwt": mint(k, sa_claims(aud=("other",)))},
                403, "invalid audience (aud) claim: audience claim does not match any "
                     "expected audience"),
        "sa-name": ("kubernetes", {"role": "kv-role", "jwt": mint(k, sa_claims(sa="intruder"))},
                    403, "service account name not authorized"),
        "sa-ns": ("kubernetes", {"role": "kv-role", "jwt": mint(k, sa_claims(ns="prod"))},
                  403, "namespace not authorized"),
        "glob-miss": ("kubernetes", {"role": "wild", "jwt": mint(k, sa_claims(sa="web-1"))},
                      403, "service account name not authorized"),
        "malformed": ("kubernetes", {"role": "kv-role", "jwt": "not.a-jwt"}, 403, None),
        "sub-mismatch": ("kubernetes",
                         {"role": "kv-role",
                          "jwt": mint(k, sa_claims(sub="system:serviceaccount:test:other"))},
                         403, "permission denied"),
        "cidr": ("kubernetes", {"role": "cidr", "jwt": good}, 403, "permission denied"),
        "iss": ("k8s-iss", {"role": "r", "jwt": good}, 403, "invalid issuer (iss) claim"),
        "nokeys": ("k8s-nokeys", {"role": "r", "jwt": good}, 403, "permission denied"),
        "noconfig": ("k8s-noconfig", {"role": "r", "jwt": good}, 500,
                     "could not load backend configuration"),
    }
    mount, body, status, msg = table[case]
    r = vd.call("POST", "/v1/auth/%s/login" % mount, body)
    assert r.status == status, (case, r.body)
    errs = r.json()["errors"]
    assert len(errs) == 1
    if msg is not None:
        assert errs[0] == msg


def test_k8s_issuer_ok(vd, keys):
    r = vd.login("r", mint(keys["rsa"], sa_claims(iss="https://issuer.test")), mount="k8s-iss")
    assert r.status == 200
    # A role without audience accepts any aud.
    assert r.json()["auth"]["policies"] == ["default"]


# ----------------------------------------------------------------------------- jwt auth

def test_jwt_login_success(vd, keys):
    c = sa_claims(iss="https://k8s.test")
    r = vd.login("jwt-kv-role", mint(keys["rsa"], c), mount="jwt")
    assert r.status == 200, r.body
    j = r.json()
    assert j["mount_type"] == "jwt" and list(j["auth"].keys()) == AUTH_KEYS
    assert j["auth"]["metadata"] == {"role": "jwt-kv-role", "k8s_ns": "test"}
    assert j["auth"]["lease_duration"] == 1800
    tok = j["auth"]["client_token"]
    assert vd.call("GET", "/v1/secret/data/app/config", token=tok).status == 200
    # Expired 200 s ago: inside the default 150 s expiration + 60 s skew leeway.
    c2 = sa_claims(iss="https://k8s.test", exp_in=-200)
    assert vd.login("jwt-kv-role", mint(keys["rsa"], c2), mount="jwt").status == 200
    # Glob bound claims via JSON pointer.
    c3 = sa_claims(ns="prod-eu", iss="https://k8s.test")
    assert vd.login("claims", mint(keys["rsa"], c3), mount="jwt").status == 200
    # default_role and ES256.
    r = vd.call("POST", "/v1/auth/jwt-ec/login", {"jwt": mint(keys["ec"], sa_claims(), "ES256")})
    assert r.status == 200 and r.json()["auth"]["metadata"] == {"role": "d"}


@pytest.mark.parametrize("case", ["missing-role", "no-role", "oidc", "missing-token", "sig",
                                  "expired", "aud", "sub", "iss", "claims", "noaud",
                                  "user-claim", "alg", "malformed"])
def test_jwt_login_errors(vd, keys, case):
    k = keys["rsa"]
    good = sa_claims(iss="https://k8s.test")

    def with_(**kw):
        c = dict(good)
        c.update(kw)
        return c
    ev = "error validating token: "
    table = {
        "missing-role": ({"jwt": mint(k, good)}, "missing role"),
        "no-role": ({"role": "zzz", "jwt": mint(k, good)}, 'role "zzz" could not be found'),
        "oidc": ({"role": "oidc", "jwt": mint(k, good)},
                 "role with oidc role_type is not allowed"),
        "missing-token": ({"role": "jwt-kv-role"}, "missing token"),
        "sig": ({"role": "jwt-kv-role", "jwt": mint(keys["other"], good)}, None),
        "expired": ({"role": "jwt-kv-role", "jwt": mint(k, with_(exp=int(time.time()) - 400))},
                    ev + "invalid expiration time (exp) claim: token is expired"),
        "aud": ({"role": "jwt-kv-role", "jwt": mint(k, with_(aud=["nope"]))},
                ev + "invalid audience (aud) claim: audience claim does not match any "
                     "expected audience"),
        "sub": ({"role": "jwt-kv-role", "jwt": mint(k, with_(sub="system:serviceaccount:x:y"))},
                ev + "invalid subject (sub) claim"),
        "iss": ({"role": "jwt-kv-role", "jwt": mint(k, with_(iss="https://evil"))},
                ev + "invalid issuer (iss) claim"),
        "claims": ({"role": "claims", "jwt": mint(k, good)},
                   'error validating claims: claim "/kubernetes.io/namespace" does not match '
                   'any associated bound claim values'),
        "noaud": ({"role": "noaud", "jwt": mint(k, good)},
                  "audience claim found in JWT but no audiences bound to the role"),
        "user-claim": ({"role": "usr", "jwt": mint(k, good)},
                       '"email" claim not found in token'),
        "alg": ({"role": "jwt-kv-role", "jwt": mint(keys["ec"], good, "ES256")}, None),
        "malformed": ({"role": "jwt-kv-role", "jwt": "abc"}, None),
    }
    body, msg = table[case]
    r = vd.call("POST", "/v1/auth/jwt/login", body)
    assert r.status == 400, (case, r.body)
    errs = r.json()["errors"]
    assert len(errs) == 1
    if msg is None:
        assert errs[0].startswith(ev)
    else:
        assert errs[0] == msg


# ----------------------------------------------------------------------------- policies

def test_acl_rules(vd):
    tok = vd.token(["acl-test"])

    def get(p, m="GET"):
        return vd.call(m, "/v1/acl/" + p, token=tok)
    assert get("x/config").status == 200                 # '+' matches one segment
    r = get("x/y/config")                                # ... and only one
    assert r.status == 403 and r.json() == {"errors": [PERM_DENIED]}
    assert get("team/a").status == 200                   # glob
    assert get("team/secret").status == 403              # deny
    assert get("other").status == 403                    # no rule
    assert get("prio/config").status == 403              # "acl/prio/*" outranks "acl/+/config"
    r = get("team", "LIST")
    assert r.status == 200 and r.json()["data"] == {"keys": ["a", "secret"]}
    r = get("team/?list=true")
    assert r.status == 200 and r.json()["data"] == {"keys": ["a", "secret"]}
    assert get("x/config", "DELETE").status == 403
    # Policies change live through the admin API.
    vd.adm("POST", "/admin/policies", {"name": "acl-test", "policy": {
        "path": {"acl/other": {"capabilities": ["read"]}}}})
    assert get("other").status == 200 and get("team/a").status == 403
    vd.adm("POST", "/admin/policies", {"name": "acl-test",
                                       "policy": main_config_policies_acl()})


def main_config_policies_acl():
    return '''
        path "acl/+/config" { capabilities = ["read"] }
        path "acl/team/*"   { capabilities = ["read", "list"] }
        path "acl/team/secret" { capabilities = ["deny"] }
        path "acl/prio/*"   { capabilities = ["list"] }
    '''


def test_token_without_default_policy(vd, keys):
    r = vd.login("nodefault", mint(keys["rsa"], sa_claims()))
    assert r.status == 200 and r.json()["auth"]["policies"] == ["kv-read"]
    tok = r.json()["auth"]["client_token"]
    r = vd.call("GET", "/v1/auth/token/lookup-self", token=tok)
    assert r.status == 403 and r.json() == {"errors": [PERM_DENIED]}


# ----------------------------------------------------------------------------- KV v1

def test_kv1(vd):
    tok = vd.token(["kv-write"])
    r = vd.call("GET", "/v1/kv/app/plain", token=tok)
    assert r.status == 200
    j = r.json()
    assert j["lease_duration"] == 2764800 and j["lease_id"] == "" and j["renewable"] is False
    assert j["data"] == {"k": "v", "n": 5432, "html": "<a&b>"} and j["mount_type"] == "kv"
    assert vd.call("GET", "/v1/kv/app/ttl", token=tok).json()["lease_duration"] == 3600
    r = vd.call("GET", "/v1/kv/app/missing", token=tok)
    assert r.status == 404 and r.json() == {"errors": []}
    r = vd.call("PUT", "/v1/kv/app/new", {"a": [1, 2], "b": None}, token=tok)
    assert r.status == 204 and r.body == b""
    assert vd.call("GET", "/v1/kv/app/new", token=tok).json()["data"] == {"a": [1, 2], "b": None}
    r = vd.call("LIST", "/v1/kv/app", token=tok)
    assert r.json()["data"]["keys"] == ["new", "plain", "ttl"]
    top = vd.call("GET", "/v1/kv/?list=true", token=tok).json()["data"]["keys"]
    assert "app/" in top and top == sorted(top)
    assert vd.call("DELETE", "/v1/kv/app/new", token=tok).status == 204
    assert vd.call("GET", "/v1/kv/app/new", token=tok).status == 404
    r = vd.call("LIST", "/v1/kv/empty", token=tok)
    assert r.status == 404 and r.json() == {"errors": []}
    # create vs update capability (existence check).
    c = vd.token(["kv-create-only"])
    assert vd.call("POST", "/v1/kv/new/x", {"v": 1}, token=c).status == 204
    r = vd.call("POST", "/v1/kv/new/x", {"v": 2}, token=c)
    assert r.status == 403


# ----------------------------------------------------------------------------- KV v2

def test_kv2_versions_and_deletes(vd):
    tok = vd.token(["kv-write"])
    base = "/v1/secret/data/v2test"
    r = vd.call("POST", base, {"data": {"n": 1}}, token=tok)
    assert r.status == 200
    j = r.json()
    assert j["mount_type"] == "kv"
    assert sorted(j["data"]) == ["created_time", "custom_metadata", "deletion_time",
                                 "destroyed", "version"]
    assert j["data"]["version"] == 1 and j["data"]["deletion_time"] == ""
    assert vd.call("PUT", base, {"data": {"n": 2}}, token=tok).json()["data"]["version"] == 2
    v3 = vd.adm("POST", "/admin/secrets", {"mount": "secret", "path": "v2test",
                                           "data": {"n": 3}})
    assert v3 == {"version": 3}
    r = vd.call("GET", base, token=tok)
    j = r.json()
    assert j["data"]["data"] == {"n": 3} and j["data"]["metadata"]["version"] == 3
    assert j["lease_duration"] == 0
    md = j["data"]["metadata"]
    assert md["created_time"].endswith("Z") and md["custom_metadata"] is None
    assert vd.call("GET", base + "?version=1", token=tok).json()["data"]["data"] == {"n": 1}
    r = vd.call("GET", base + "?version=9", token=tok)
    assert r.status == 404 and r.json() == {"errors": []}
    # Soft delete of the latest version -> 404 envelope without "errors".
    assert vd.call("DELETE", base, token=tok).status == 204
    r = vd.call("GET", base, token=tok)
    assert r.status == 404
    j = r.json()
    assert "errors" not in j and r.keys() == ENVELOPE_KEYS + ["mount_type"]
    assert j["data"]["data"] is None
    assert j["data"]["metadata"]["deletion_time"] != ""
    assert j["data"]["metadata"]["destroyed"] is False and j["data"]["metadata"]["version"] == 3
    # Undelete.
    r = vd.call("POST", "/v1/secret/undelete/v2test", {"versions": [3]}, token=tok)
    assert r.status == 204
    assert vd.call("GET", base, token=tok).status == 200
    # delete/ endpoint and destroy.
    assert vd.call("POST", "/v1/secret/delete/v2test", {"versions": [1]}, token=tok).status == 204
    assert vd.call("GET", base + "?version=1", token=tok).status == 404
    assert vd.call("PUT", "/v1/secret/destroy/v2test", {"versions": [2]}, token=tok).status == 204
    r = vd.call("GET", base + "?version=2", token=tok)
    assert r.status == 404 and r.json()["data"]["metadata"]["destroyed"] is True
    r = vd.call("POST", "/v1/secret/delete/v2test", {}, token=tok)
    assert r.status == 400 and r.json() == {"errors": ["no version number provided"]}
    # Metadata.
    r = vd.call("GET", "/v1/secret/metadata/v2test", token=tok)
    m = r.json()["data"]
    assert m["current_version"] == 3 and m["oldest_version"] == 1
    assert sorted(m["versions"]) == ["1", "2", "3"] and m["versions"]["2"]["destroyed"]
    r = vd.call("POST", "/v1/secret/metadata/v2test",
                {"custom_metadata": {"owner": "me"}, "max_versions": 5}, token=tok)
    assert r.status == 204
    r = vd.call("GET", base, token=tok)
    assert r.json()["data"]["metadata"]["custom_metadata"] == {"owner": "me"}
    r = vd.call("LIST", "/v1/secret/metadata/", token=tok)
    assert "v2test" in r.json()["data"]["keys"] and "app/" in r.json()["data"]["keys"]
    # Check-and-set.
    r = vd.call("POST", base, {"data": {"n": 4}, "options": {"cas": 1}}, token=tok)
    assert r.status == 400
    assert r.json() == {"errors": ["check-and-set parameter did not match the current version"]}
    assert vd.call("POST", base, {"data": {"n": 4}, "options": {"cas": 3}},
                   token=tok).status == 200
    r = vd.call("POST", base, {"nodata": 1}, token=tok)
    assert r.status == 400 and r.json() == {"errors": ["no data provided"]}
    # LIST on data/ is not supported.
    assert vd.call("LIST", "/v1/secret/data/", token=tok).status == 405
    # Metadata delete removes everything.
    assert vd.call("DELETE", "/v1/secret/metadata/v2test", token=tok).status == 204
    r = vd.call("GET", base, token=tok)
    assert r.status == 404 and r.json() == {"errors": []}
    assert vd.call("GET", "/v1/secret/metadata/v2test", token=tok).status == 404


def test_kv2_wrong_path_and_admin_rotation(vd):
    tok = vd.token(["kv-write"])
    r = vd.call("GET", "/v1/secret/app/config", token=tok)
    assert r.status == 404
    j = r.json()
    assert "errors" not in j and j["data"] is None
    assert j["warnings"] == ["Invalid path for a versioned K/V secrets engine. See the API docs "
                             "for the appropriate API endpoints to use. If using the Vault CLI, "
                             "use 'vault kv get' for this operation."]
    # Admin-side rotation, destroy and delete.
    vd.adm("POST", "/admin/secrets", {"mount": "secret", "path": "rot", "data": {"v": "a"}})
    vd.adm("POST", "/admin/secrets", {"mount": "secret", "path": "rot", "data": {"v": "b"}})
    assert vd.call("GET", "/v1/secret/data/rot", token=tok).json()["data"]["data"] == {"v": "b"}
    got = vd.adm("GET", "/admin/secrets?mount=secret&path=rot")
    assert got["current_version"] == 2
    vd.adm("DELETE", "/admin/secrets", {"mount": "secret", "path": "rot", "versions": [2],
                                        "destroy": True})
    r = vd.call("GET", "/v1/secret/data/rot", token=tok)
    assert r.status == 404 and r.json()["data"]["metadata"]["destroyed"] is True
    vd.adm("DELETE", "/admin/secrets", {"mount": "secret", "path": "rot"})
    assert vd.call("GET", "/v1/secret/data/rot", token=tok).json() == {"errors": []}
    vd.adm("POST", "/admin/secrets", {"mount": "kv", "path": "adm", "data": {"x": "1"}})
    assert vd.call("GET", "/v1/kv/adm", token=tok).json()["data"] == {"x": "1"}


def test_ui_mounts_preflight(vd, kv_token):
    r = vd.call("GET", "/v1/sys/internal/ui/mounts/secret/data/app/config", token=kv_token)
    assert r.status == 200
    j = r.json()
    assert j["data"]["type"] == "kv" and j["data"]["options"] == {"version": "2"}
    assert j["data"]["path"] == "secret/"
    assert j["type"] == "kv" and j["options"] == {"version": "2"}     # copied to top level
    r = vd.call("GET", "/v1/sys/internal/ui/mounts/kv", token=kv_token)
    assert r.json()["data"]["options"] == {"version": "1"}
    r = vd.call("GET", "/v1/sys/internal/ui/mounts/acl", token=kv_token)
    assert r.status == 403
    r = vd.call("GET", "/v1/sys/internal/ui/mounts/nomount", token=kv_token)
    assert r.status == 403


# ----------------------------------------------------------------------------- database creds, leases

def test_db_creds_and_lease_lifecycle(vd, kv_token):
    r = vd.call("GET", "/v1/database/creds/readonly", token=kv_token)
    assert r.status == 200, r.body
    j = r.json()
    assert r.keys() == ENVELOPE_KEYS + ["mount_type"] and j["mount_type"] == "database"
    lid = j["lease_id"]
    assert lid.startswith("database/creds/readonly/") and len(lid.rsplit("/", 1)[1]) == 24
    assert j["renewable"] is True and j["lease_duration"] == 3600
    assert sorted(j["data"]) == ["password", "username"]
    assert j["data"]["username"].startswith("v-kubernet-readonly-")
    # POST/PUT -> 405 even with update capability; unknown role -> 400.
    for m in ("POST", "PUT"):
        r = vd.call(m, "/v1/database/creds/readonly", {}, token=kv_token)
        assert r.status == 405
        assert r.json() == {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}
    r = vd.call("GET", "/v1/database/creds/nope", token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["unknown role: nope"]}
    # Renew: increment honoured, then capped at max_ttl (2h) with a warning.
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": lid, "increment": 600},
                token=kv_token)
    assert r.status == 200
    j = r.json()
    assert j["lease_id"] == lid and j["renewable"] is True and j["lease_duration"] == 600
    assert j["data"] is None and j["warnings"] is None
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": lid, "increment": "10h"},
                token=kv_token)
    assert r.status == 200
    assert 7190 <= r.json()["lease_duration"] <= 7200 and len(r.json()["warnings"]) == 1
    r = vd.call("POST", "/v1/sys/leases/renew", {}, token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["lease_id must be specified"]}
    r = vd.call("POST", "/v1/sys/leases/renew", {"lease_id": "database/creds/readonly/x"},
                token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["lease not found"]}
    # Lookup (sys: data also at top level).
    r = vd.call("PUT", "/v1/sys/leases/lookup", {"lease_id": lid}, token=kv_token)
    assert r.status == 200
    j = r.json()
    assert j["data"]["id"] == lid and j["id"] == lid and j["data"]["renewable"] is True
    assert j["data"]["last_renewal"] is not None
    # Admin lease table.
    lv = [x for x in vd.adm("GET", "/admin/leases")["leases"] if x["lease_id"] == lid][0]
    assert lv["renew_count"] == 2 and not lv["revoked"] and lv["kind"] == "database"
    # Revoke (204), async revoke (202), then the lease is gone.
    assert vd.call("PUT", "/v1/sys/leases/revoke", {"lease_id": lid},
                   token=kv_token).status == 204
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": lid}, token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["lease not found"]}
    lid2 = vd.call("GET", "/v1/database/creds/readonly", token=kv_token).json()["lease_id"]
    r = vd.call("PUT", "/v1/sys/leases/revoke", {"lease_id": lid2, "sync": False},
                token=kv_token)
    assert r.status == 202 and r.body == b""
    # The default policy does not allow revoke.
    other = vd.token(["kv-read"])
    r = vd.call("PUT", "/v1/sys/leases/revoke", {"lease_id": lid2}, token=other)
    assert r.status == 403


def test_leases_die_with_their_token(vd, keys):
    tok_r = vd.login("kv-role", mint(keys["rsa"], sa_claims())).json()["auth"]
    tok, acc = tok_r["client_token"], tok_r["accessor"]
    l1 = vd.call("GET", "/v1/database/creds/readonly", token=tok).json()["lease_id"]
    l2 = vd.call("GET", "/v1/database/creds/short", token=tok).json()["lease_id"]
    t = vd.adm("GET", "/admin/tokens?accessor=" + acc)["tokens"][0]
    assert sorted(t["lease_ids"]) == sorted([l1, l2])
    assert vd.call("POST", "/v1/auth/token/revoke-self", token=tok).status == 204
    leases = {x["lease_id"]: x for x in vd.adm("GET", "/admin/leases?owner=" + acc)["leases"]}
    assert leases[l1]["revoked"] and leases[l1]["revoke_reason"] == "token_revoked"
    assert leases[l2]["revoked"]
    t = vd.adm("GET", "/admin/tokens?accessor=" + acc)["tokens"][0]
    assert t["revoked"] and t["revoke_reason"] == "revoked"
    r = vd.call("GET", "/v1/auth/token/lookup-self", token=tok)
    assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}


def test_token_expiry_revokes_leases_and_lease_expiry(vd, keys):
    auth = vd.login("wild", mint(keys["rsa"], sa_claims(sa="app-1", aud=()))).json()["auth"]
    assert auth["lease_duration"] == 60
    tok = auth["client_token"]
    vd.adm("POST", "/admin/policies", {"name": "kv-read", "policy": {"path": {
        "secret/data/*": {"capabilities": ["read"]},
        "database/creds/*": {"capabilities": ["read"]}}}})
    try:
        short = vd.call("GET", "/v1/database/creds/short", token=tok).json()
        assert short["lease_duration"] == 2
        long_ = vd.call("GET", "/v1/database/creds/readonly", token=tok).json()["lease_id"]
        vd.adm("POST", "/admin/clock", {"advance": 3})
        lv = {x["lease_id"]: x for x in vd.adm("GET", "/admin/leases")["leases"]}
        assert lv[short["lease_id"]]["revoke_reason"] == "expired"
        assert not lv[long_]["revoked"]
        r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": short["lease_id"]}, token=tok)
        assert r.status == 400
        vd.adm("POST", "/admin/clock", {"advance": 60})
        r = vd.call("GET", "/v1/secret/data/app/config", token=tok)
        assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}
        lv = {x["lease_id"]: x for x in vd.adm("GET", "/admin/leases")["leases"]}
        assert lv[long_]["revoked"] and lv[long_]["revoke_reason"] == "token_expired"
        t = vd.adm("GET", "/admin/tokens?accessor=" + auth["accessor"])["tokens"][0]
        assert t["expired"] and t["revoke_reason"] == "expired"
    finally:
        vd.adm("POST", "/admin/policies", {"name": "kv-read", "policy": main_config(keys)[
            "policies"]["kv-read"]})


def test_real_time_short_ttl(vd, keys):
    """TTLs down to ~1 s work on the wall clock too."""
    tok = vd.token(["db"], ttl=1)
    assert vd.call("GET", "/v1/database/creds/readonly", token=tok).status == 200
    end = time.time() + 1.2
    while time.time() < end:
        time.sleep(0.1)
    r = vd.call("GET", "/v1/database/creds/readonly", token=tok)
    assert r.status == 403


# ----------------------------------------------------------------------------- PKI

def test_pki_issue(vd, kv_token):
    r = vd.call("POST", "/v1/pki/issue/web",
                {"common_name": "app.example.com", "alt_names": "b.example.com",
                 "ip_sans": "127.0.0.1", "ttl": "30m"}, token=kv_token)
    assert r.status == 200, r.body
    j = r.json()
    assert j["lease_id"] == "" and j["lease_duration"] == 0 and j["mount_type"] == "pki"
    d = j["data"]
    assert sorted(d) == ["ca_chain", "certificate", "expiration", "issuing_ca", "private_key",
                         "private_key_type", "serial_number"]
    cert = x509.load_pem_x509_certificate(d["certificate"].encode())
    ca = x509.load_pem_x509_certificate(d["issuing_ca"].encode())
    assert d["ca_chain"] == [d["issuing_ca"]]
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                           padding.PKCS1v15(), cert.signature_hash_algorithm)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "app.example.com"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"app.example.com", "b.example.com"}
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    na = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert int(na) == d["expiration"] and abs(d["expiration"] - time.time() - 1800) < 10
    assert d["serial_number"] == ":".join(
        "%02x" % b for b in cert.serial_number.to_bytes((cert.serial_number.bit_length() + 7)
                                                        // 8, "big"))
    key = serialization.load_pem_private_key(d["private_key"].encode(), None)
    assert d["private_key_type"] == "ec" and d["private_key"].startswith(
        "-----BEGIN EC PRIVATE KEY-----")
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    # RSA role; ttl above max_ttl is capped with a warning.
    r = vd.call("PUT", "/v1/pki/issue/rsa", {"common_name": "anything.test"}, token=kv_token)
    assert r.status == 200 and r.json()["data"]["private_key"].startswith(
        "-----BEGIN RSA PRIVATE KEY-----")
    r = vd.call("PUT", "/v1/pki/issue/web", {"common_name": "a.example.com", "ttl": "5h"},
                token=kv_token)
    assert r.status == 200 and r.json()["warnings"]
    assert abs(r.json()["data"]["expiration"] - time.time() - 7200) < 10
    # Errors.
    r = vd.call("GET", "/v1/pki/issue/web", token=kv_token)
    assert r.status == 405
    r = vd.call("POST", "/v1/pki/issue/nope", {"common_name": "a.example.com"}, token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["unknown role: nope"]}
    r = vd.call("POST", "/v1/pki/issue/web", {"common_name": "evil.org"}, token=kv_token)
    assert r.status == 400
    assert r.json() == {"errors": ["common name evil.org not allowed by this role"]}
    # CA is public.
    r = vd.call("GET", "/v1/pki/ca/pem")
    assert r.status == 200 and r.body.decode() == d["issuing_ca"]


def test_pki_generate_lease(vd, kv_token):
    r = vd.call("POST", "/v1/pki/issue/leased", {"common_name": "l.example.com"},
                token=kv_token)
    j = r.json()
    assert r.status == 200 and j["lease_id"].startswith("pki/issue/leased/")
    assert j["renewable"] is False and 3590 <= j["lease_duration"] <= 3600
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": j["lease_id"]}, token=kv_token)
    assert r.status == 400 and r.json() == {"errors": ["lease is not renewable"]}


# ----------------------------------------------------------------------------- token endpoints

def test_token_self_endpoints(vd, keys):
    auth = vd.login("kv-role", mint(keys["rsa"], sa_claims())).json()["auth"]
    tok = auth["client_token"]
    r = vd.call("GET", "/v1/auth/token/lookup-self", token=tok)
    assert r.status == 200 and r.json()["mount_type"] == "token"
    d = r.json()["data"]
    for k in ("accessor", "creation_time", "creation_ttl", "display_name", "entity_id",
              "expire_time", "explicit_max_ttl", "id", "issue_time", "meta", "num_uses",
              "orphan", "path", "policies", "renewable", "ttl", "type"):
        assert k in d, k
    assert d["id"] == tok and d["accessor"] == auth["accessor"]
    assert d["path"] == "auth/kubernetes/login" and d["type"] == "service"
    assert d["display_name"] == "kubernetes-test-nginx-kv"
    assert d["creation_ttl"] == 3600 and 3590 <= d["ttl"] <= 3600
    assert d["meta"]["service_account_name"] == "nginx-kv"
    # Renew with an increment; then past max TTL (2h) -> capped with a warning.
    r = vd.call("PUT", "/v1/auth/token/renew-self", {"increment": 120}, token=tok)
    assert r.status == 200
    a = r.json()["auth"]
    assert list(a.keys()) == AUTH_KEYS and a["client_token"] == tok and a["lease_duration"] == 120
    r = vd.call("POST", "/v1/auth/token/renew-self", {"increment": "5h"}, token=tok)
    assert r.status == 200
    assert 7190 <= r.json()["auth"]["lease_duration"] <= 7200 and r.json()["warnings"]
    d = vd.call("GET", "/v1/auth/token/lookup-self", token=tok).json()["data"]
    assert "last_renewal_time" in d
    assert vd.adm("GET", "/admin/tokens?accessor=" + auth["accessor"])["tokens"][0][
        "renew_count"] == 2
    # ACL first: the default policy grants only update here -> 403; root gets the 405.
    assert vd.call("GET", "/v1/auth/token/renew-self", token=tok).status == 403
    assert vd.call("GET", "/v1/auth/token/renew-self", token=vd.token(["root"])).status == 405
    # Periodic token: renewal resets to the period.
    p = vd.login("periodic", mint(keys["rsa"], sa_claims())).json()["auth"]
    assert p["lease_duration"] == 30
    r = vd.call("PUT", "/v1/auth/token/renew-self", {"increment": 999}, token=p["client_token"])
    assert r.json()["auth"]["lease_duration"] == 30
    # Non-renewable token.
    nr = vd.token(["kv-read"], renewable=False, ttl=60)
    r = vd.call("PUT", "/v1/auth/token/renew-self", token=nr)
    assert r.status == 400 and r.json() == {"errors": ["lease is not renewable"]}
    # Revoke-self -> 204, then the token is invalid.
    r = vd.call("PUT", "/v1/auth/token/revoke-self", token=tok)
    assert r.status == 204 and r.body == b""
    r = vd.call("PUT", "/v1/auth/token/renew-self", token=tok)
    assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}


def test_num_uses(vd):
    tok = vd.token(["kv-read"], num_uses=2)
    assert vd.call("GET", "/v1/secret/data/app/config", token=tok).status == 200
    assert vd.call("GET", "/v1/secret/data/app/config", token=tok).status == 200
    assert vd.call("GET", "/v1/secret/data/app/config", token=tok).status == 403


# ----------------------------------------------------------------------------- namespaces

def test_namespaces(vd, keys):
    jwt = mint(keys["rsa"], sa_claims())
    r = vd.login("kv-role", jwt, ns="team-a")
    assert r.status == 200 and r.header("X-Vault-Namespace") == "team-a"
    tok = r.json()["auth"]["client_token"]
    assert "." in tok[4:]                          # namespace id suffix
    r = vd.call("GET", "/v1/secret/data/app/config", token=tok, ns="team-a/")
    assert r.status == 200 and r.json()["data"]["data"] == {"team": "a"}
    # Namespace as a path prefix instead of the header.
    r = vd.call("GET", "/v1/team-a/secret/data/app/config", token=tok)
    assert r.status == 200 and r.json()["data"]["data"] == {"team": "a"}
    # Not valid in the root namespace or in a sibling.
    r = vd.call("GET", "/v1/secret/data/app/config", token=tok)
    assert r.status == 403
    r = vd.call("GET", "/v1/secret/data/app/config", token=tok, ns="team-b")
    assert r.status == 403
    # Root-namespace token in the root namespace does not see team-a's data.
    root_kv = vd.token(["kv-read"])
    r = vd.call("GET", "/v1/secret/data/app/config", token=root_kv)
    assert r.json()["data"]["data"] == {"user": "u1", "password": "p1"}
    # A root token reaches child namespaces (header + path combined too).
    root = vd.token(["root"])
    r = vd.call("GET", "/v1/sub/secret/data/x", token=root, ns="team-a")
    assert r.status == 200 and r.json()["data"]["data"] == {"sub": True}
    # Dynamic creds in a namespace carry the namespace id on the lease id.
    r = vd.call("GET", "/v1/database/creds/readonly", token=tok, ns="team-a")
    assert r.status == 200
    lid = r.json()["lease_id"]
    assert lid.startswith("database/creds/readonly/") and "." in lid.rsplit("/", 1)[1]
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": lid}, token=tok, ns="team-a")
    assert r.status == 200 and r.json()["lease_duration"] == 60
    # Same lease id from the root namespace: not found there.
    r = vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": lid}, token=root)
    assert r.status == 400


# ----------------------------------------------------------------------------- faults

def _fault(vd, **spec):
    return vd.adm("POST", "/admin/faults", spec)["id"]


def test_fault_status_codes(vd, kv_token):
    p = "/v1/secret/data/app/config"
    _fault(vd, type="rate_limit", count=1, retry_after=2, rate_limit_headers=True)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 429 and r.header("Retry-After") == "2"
    assert r.header("X-RateLimit-Limit") and r.header("X-RateLimit-Remaining") == "0"
    assert r.json() == {"errors": ['request path "secret/data/app/config": rate limit quota '
                                   'exceeded']}
    _fault(vd, type="rate_limit", count=1)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 429 and r.header("Retry-After") is None
    _fault(vd, type="error", count=1)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 500 and r.json() == {"errors": ["internal error"]}
    _fault(vd, type="bad_gateway", count=1)
    assert vd.call("GET", p, token=kv_token).status == 502
    _fault(vd, type="sealed", count=1)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 503 and r.json() == {"errors": ["Vault is sealed"]}
    _fault(vd, type="precondition", count=1)
    assert vd.call("GET", p, token=kv_token).status == 412
    _fault(vd, type="status", status=403, errors=[INVALID_TOKEN], count=1)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 403 and r.json() == {"errors": [INVALID_TOKEN]}
    assert vd.call("GET", p, token=kv_token).status == 200          # all used up
    assert vd.adm("GET", "/admin/faults")["faults"] == []


def test_fault_redirect_to_second_listener(vd, kv_token):
    sb = vd.info["standby_addr"]
    _fault(vd, type="redirect", location=vd.info["addr"], path="/v1/secret/*", count=1)
    r = vd.call("GET", "/v1/secret/data/app/config?version=1", token=kv_token)
    assert r.status == 307 and r.header("Location") == \
        vd.info["addr"] + "/v1/secret/data/app/config?version=1"
    assert vd.call("GET", "/v1/secret/data/app/config", token=kv_token).status == 200
    # Faults can target a listener.
    _fault(vd, type="error", listener="standby")
    assert vd.call("GET", "/v1/sys/health", port=urllib.parse.urlsplit(sb).port).status == 500
    assert vd.call("GET", "/v1/sys/health").status == 200


def test_fault_filters_counts_and_clear(vd, kv_token):
    fid = _fault(vd, type="error", method="PUT", path="/v1/sys/leases/*")
    assert vd.call("GET", "/v1/secret/data/app/config", token=kv_token).status == 200
    for _ in range(3):       # until cleared
        assert vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": "x"},
                       token=kv_token).status == 500
    fl = vd.adm("GET", "/admin/faults")["faults"]
    assert fl[0]["id"] == fid and fl[0]["hits"] == 3 and fl[0]["remaining"] is None
    vd.adm("DELETE", "/admin/faults/%d" % fid)
    assert vd.call("PUT", "/v1/sys/leases/renew", {"lease_id": "x"},
                   token=kv_token).status == 400
    # skip: the second matching request fails, once.
    _fault(vd, type="error", skip=1, count=1)
    assert vd.call("GET", "/v1/sys/health").status == 200
    assert vd.call("GET", "/v1/sys/health").status == 500
    assert vd.call("GET", "/v1/sys/health").status == 200


def test_fault_latency(vd):
    _fault(vd, type="latency", ms=300, count=1)
    t0 = time.monotonic()
    assert vd.call("GET", "/v1/sys/health").status == 200
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    vd.call("GET", "/v1/sys/health")
    assert time.monotonic() - t0 < 0.3


def test_fault_drop_garbage_truncate_slow(vd, kv_token):
    p = "/v1/secret/data/app/config"
    _fault(vd, type="drop", count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        vd.call("GET", p, token=kv_token)
    _fault(vd, type="drop", count=1, rst=True)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        vd.call("GET", p, token=kv_token)
    _fault(vd, type="garbage", count=1)
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 200 and r.header("Content-Length") == str(len(r.body))
    with pytest.raises(ValueError):
        r.json()
    _fault(vd, type="truncate", count=1)
    with pytest.raises(http.client.IncompleteRead):
        vd.call("GET", p, token=kv_token)
    _fault(vd, type="slow_body", count=1, chunk_size=100, delay_ms=50)
    t0 = time.monotonic()
    r = vd.call("GET", p, token=kv_token)
    assert r.status == 200 and r.json()["data"]["data"]["user"] == "u1"
    assert time.monotonic() - t0 >= 0.1
    counts = vd.adm("GET", "/admin/counters")["requests"]
    assert any(c["path"] == p and c["status"] == 0 for c in counts)      # dropped


# ----------------------------------------------------------------------------- admin side

def test_counters_and_request_log(vd, keys):
    vd.adm("POST", "/admin/counters/reset")
    auth = vd.login("kv-role", mint(keys["rsa"], sa_claims())).json()["auth"]
    for _ in range(3):
        vd.call("GET", "/v1/secret/data/app/config", token=auth["client_token"])
    vd.call("GET", "/v1/secret/data/nope", token=auth["client_token"])
    c = vd.adm("GET", "/admin/counters")
    req = {(x["method"], x["path"], x["status"]): x["count"] for x in c["requests"]}
    assert req[("GET", "/v1/secret/data/app/config", 200)] == 3
    assert req[("GET", "/v1/secret/data/nope", 404)] == 1
    assert req[("POST", "/v1/auth/kubernetes/login", 200)] == 1
    assert c["tokens"][auth["accessor"]] == 5 and c["total"] == 5
    log = vd.adm("GET", "/admin/requests?since=0")["requests"]
    assert [e["status"] for e in log] == [200, 200, 200, 200, 404]
    assert log[1]["accessor"] == auth["accessor"] and log[1]["has_token"]
    assert log[1]["vault_path"] == "secret/data/app/config" and log[1]["namespace"] == ""
    last = vd.adm("GET", "/admin/requests")["last_seq"]
    assert vd.adm("GET", "/admin/requests?since=%d" % last)["requests"] == []
    assert vd.adm("GET", "/admin/tokens?accessor=" + auth["accessor"])["tokens"][0][
        "requests"] == 4


def test_admin_live_config(vd, keys):
    # New mount, role, policy and keys at run time.
    vd.adm("POST", "/admin/mounts", {"path": "auth/late", "type": "kubernetes", "config": {},
                                     "roles": {}})
    vd.adm("POST", "/admin/roles", {"mount": "auth/late", "name": "r", "role": {
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"],
        "token_policies": ["dyn"], "token_ttl": 5, "token_max_ttl": 10}})
    jwt = mint(keys["other"], sa_claims())
    assert vd.login("r", jwt, mount="late").status == 403          # no key yet
    out = vd.adm("POST", "/admin/jwt-keys", {"mount": "auth/late", "pem": _pub_pem(keys["other"])})
    assert out["keys"] == {"auth/late": 1}
    r = vd.login("r", jwt, mount="late")
    assert r.status == 200 and r.json()["auth"]["lease_duration"] == 5
    tok = r.json()["auth"]["client_token"]
    vd.adm("POST", "/admin/mounts", {"path": "dyn", "type": "kv", "version": 2,
                                     "data": {"a": {"b": "c"}}})
    assert vd.call("GET", "/v1/dyn/data/a", token=tok).status == 403
    vd.adm("POST", "/admin/policies", {"name": "dyn", "policy": {"path": {
        "dyn/data/*": {"capabilities": ["read"]}}}})
    assert vd.call("GET", "/v1/dyn/data/a", token=tok).json()["data"]["data"] == {"b": "c"}
    vd.adm("POST", "/admin/mounts/tune", {"path": "database", "max_lease_ttl": 3})
    dbt = vd.token(["db"])
    r = vd.call("GET", "/v1/database/creds/readonly", token=dbt)
    assert r.json()["lease_duration"] == 3
    vd.adm("POST", "/admin/mounts/tune", {"path": "database", "max_lease_ttl": 0})
    # Bad input -> 400 with an error.
    st, js = vd.admin("POST", "/admin/roles", {"mount": "auth/late", "name": "x",
                                               "role": {"bound_service_account_names": []}})
    assert st == 400 and "error" in js
    st, js = vd.admin("GET", "/admin/nothing")
    assert st == 404
    ov = vd.adm("GET", "/admin/state")
    assert "auth/late" in ov["namespaces"][""]["mounts"]
    assert set(ov["namespaces"]) == {"", "team-a/", "team-a/sub/", "team-b/"}
    vd.adm("DELETE", "/admin/mounts", {"path": "auth/late"})
    vd.adm("DELETE", "/admin/mounts", {"path": "dyn"})


def test_admin_token_and_lease_controls(vd):
    tok = vd.token(["db"], ttl="10m")
    acc = vd.adm("GET", "/admin/tokens")["tokens"][-1]["accessor"]
    lid = vd.call("GET", "/v1/database/creds/readonly", token=tok).json()["lease_id"]
    lv = vd.adm("POST", "/admin/leases/expire", {"lease_id": lid})
    assert lv["revoked"] and lv["revoke_reason"] == "expired"
    lid2 = vd.call("GET", "/v1/database/creds/readonly", token=tok).json()["lease_id"]
    vd.adm("POST", "/admin/tokens/expire", {"accessor": acc})
    lv = [x for x in vd.adm("GET", "/admin/leases")["leases"] if x["lease_id"] == lid2][0]
    assert lv["revoke_reason"] == "token_expired" and lv["owner_accessor"] == acc
    assert vd.call("GET", "/v1/database/creds/readonly", token=tok).status == 403


def test_openbao_flavor_over_http(tmp_path, keys):
    s = start_server(str(tmp_path), main_config(keys), ["--http", "--flavor", "openbao"])
    try:
        r = s.login("kv-role", mint(keys["rsa"], sa_claims()))
        assert r.status == 200 and "mount_type" not in r.json()
        tok = r.json()["auth"]["client_token"]
        r = s.call("GET", "/v1/secret/data/app/config", token=tok)
        assert r.keys() == ENVELOPE_KEYS
        r = s.call("GET", "/v1/secret/data/app/config", token="s.bad")
        assert r.status == 403 and r.json() == {"errors": [PERM_DENIED]}
        # Reset to a config given through the admin API.
        cfg = {"flavor": "vault", "mounts": {"kv": {"type": "kv", "data": {"a": {"b": 1}}}}}
        s.adm("POST", "/admin/reset", {"config": cfg})
        root = s.token(["root"])
        r = s.call("GET", "/v1/kv/a", token=root)
        assert r.json()["data"] == {"b": 1}
        # the old token was dropped by the reset
        assert s.call("GET", "/v1/kv/a", token=tok).status == 403
    finally:
        stop_server(s)


def test_client_certificates(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec as ec_
    now = datetime.datetime.utcnow()
    cakey = ec_.generate_private_key(ec_.SECP256R1())
    caname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client ca")])
    cacert = (x509.CertificateBuilder().subject_name(caname).issuer_name(caname)
              .public_key(cakey.public_key()).serial_number(1)
              .not_valid_before(now - datetime.timedelta(minutes=1))
              .not_valid_after(now + datetime.timedelta(hours=1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(cakey, hashes.SHA256()))
    ckey = ec_.generate_private_key(ec_.SECP256R1())
    ccert = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driver")]))
             .issuer_name(caname).public_key(ckey.public_key()).serial_number(2)
             .not_valid_before(now - datetime.timedelta(minutes=1))
             .not_valid_after(now + datetime.timedelta(hours=1))
             .sign(cakey, hashes.SHA256()))
    d = str(tmp_path)
    cap, cp, kp = (os.path.join(d, n) for n in ("cca.pem", "c.pem", "c.key"))
    with open(cap, "wb") as f:
        f.write(cacert.public_bytes(serialization.Encoding.PEM))
    with open(cp, "wb") as f:
        f.write(ccert.public_bytes(serialization.Encoding.PEM))
    with open(kp, "wb") as f:
        f.write(ckey.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    s = start_server(os.path.join(d, "srv"), None,
                     ["--client-ca-file", cap, "--require-client-cert", "--quiet"])
    try:
        s.ctx.load_cert_chain(cp, kp)
        assert s.call("GET", "/v1/sys/health").status == 200
        log = s.adm("GET", "/admin/requests")["requests"]
        assert log[-1]["client_cert_cn"] == "driver"
        bare = ssl.create_default_context(cafile=s.info["ca_file"])
        c = http.client.HTTPSConnection(s.host, s.port, context=bare, timeout=5)
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            c.request("GET", "/v1/sys/health")
            c.getresponse().read()
        c.close()
    finally:
        stop_server(s)


def test_default_config_sigterm_and_no_secrets_in_logs(tmp_path, keys):
    pub = os.path.join(str(tmp_path), "k.pem")
    with open(pub, "w") as f:
        f.write(_pub_pem(keys["rsa"]))
    s = start_server(os.path.join(str(tmp_path), "srv"), None, ["--jwt-pubkey", pub])
    jwt = mint(keys["rsa"], sa_claims(ns="demo", sa="app"))
    r = s.login("demo", jwt)
    assert r.status == 200, r.body
    tok = r.json()["auth"]["client_token"]
    r = s.call("GET", "/v1/secret/data/myapp/config", token=tok)
    assert r.status == 200 and r.json()["data"]["data"]["username"] == "appuser"
    assert s.call("GET", "/v1/kv/myapp/legacy", token=tok).json()["lease_duration"] == 3600
    assert s.call("GET", "/v1/database/creds/readonly", token=tok).status == 200
    assert s.call("POST", "/v1/pki/issue/example-dot-com", {"common_name": "x.example.com"},
                  token=tok).status == 200
    assert s.login("demo", jwt, mount="jwt").status == 200
    s.call("GET", "/v1/secret/data/myapp/config", token="hvs.PLANTEDtokenDoNotLog")
    s.call("GET", "/v1/auth/token/lookup/hvs.PLANTEDinPathDoNotLog", token=tok)
    ready = os.path.join(s.tmp, "ready.json")
    assert os.path.exists(ready)
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(10) == 0
    s.proc.stdout.close()
    assert not os.path.exists(ready)
    log = s.stderr()
    assert "GET /v1/secret/data/myapp/config 200" in log
    for secret in (tok, jwt, jwt.split(".")[1], "PLANTED", "s3cr3t", "hvs."):
        assert secret not in log


def test_config_error_exit(tmp_path):
    bad = os.path.join(str(tmp_path), "bad.json")
    with open(bad, "w") as f:
        json.dump({"mounts": {"x": {"type": "nosuch"}}}, f)
    p = subprocess.run([PYTHON, SERVER, "--config", bad, "--http"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "config error" in p.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
