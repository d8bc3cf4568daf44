# SPDX-License-Identifier: Apache-2.0
"""Issue 12, "Files shaped the way applications read them", against the real daemon
and the Vault dev server: one publish shapes a KV v2 secret as env, yaml, json, expand
and a template, and one PKI issuance as pem, pkcs12 and a raw private_key; each file
is read back by an independent parser (Python yaml, python-dotenv, a POSIX shell's `.`,
`openssl pkcs12`, `openssl verify`)."""
import json
import os
import re
import stat
import subprocess
import time

import grpc
import pytest
import yaml

from test_publish import Pod, assert_clean, node, vault  # noqa: F401 (fixtures)
from vmtest import CallError

# Hostile but env-representable: newlines, double quotes, '$', single backslashes,
# '#', '=', leading/trailing blanks, non-ASCII, and non-string values.
SHAPED = {
    "username": "app user",
    "password": "p@ss \"word\" $HOME `id` $(id) c:\\dir # not a comment",
    "multiline": "line one\nline two\n\n",
    "unicode": "\u00e9\u4e2d\U0001F600 \u2028",
    "equals": "a=b==",
    "blank": "  padded  ",
    "empty": "",
    "port": 5432,
    "enabled": True,
    "nested": {"list": [1, "two", None], "ratio": 0.25},
}

PKI_ARGS = """  secretPath: pki/issue/example-dot-com
  secretArgs:
    common_name: app.example.com
    ttl: 1h
"""

OBJECTS = """
- objectName: app.env
  secretPath: secret/data/myapp/shaped
  format: env
- objectName: app.yaml
  secretPath: secret/data/myapp/shaped
  format: yaml
- objectName: app.json
  secretPath: secret/data/myapp/shaped
- objectName: creds
  secretPath: secret/data/myapp/shaped
  expand: true
- objectName: database-url
  secretPath: secret/data/myapp/shaped
  template: "postgres://{{ username }}:{{password}}@db:5432/app?port={{ port }}&x={{{{"
- objectName: tls.pem
  format: pem
""" + PKI_ARGS + """- objectName: keystore.p12
  format: pkcs12
  pkcs12Password: "ch@nge it"
""" + PKI_ARGS + """- objectName: tls.key
  secretKey: private_key
""" + PKI_ARGS


def as_text(v):
    """A value as env/expand/template files carry it: strings raw, others compact JSON."""
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True,
                                                    ensure_ascii=False)


def pem_blocks(data):
    return re.findall(rb"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", data,
                      re.S)


def openssl(*args, **kw):
    return subprocess.run(["openssl"] + list(args), check=True, capture_output=True, **kw)


def check_kv_shapes(t):
    want = {k: as_text(v) for k, v in SHAPED.items()}
    # yaml: Python's yaml reads back the very data
    assert yaml.safe_load((t / "app.yaml").read_text(encoding="utf-8")) == SHAPED
    # json: the shape before issue 12 (Go's bytes: sorted, compact)
    assert json.loads((t / "app.json").read_bytes()) == SHAPED
    assert (t / "app.json").read_bytes().startswith(b'{"blank":"  padded  ","empty":""')
    # env: python-dotenv and a POSIX shell's `.`
    from dotenv import dotenv_values
    assert dict(dotenv_values(t / "app.env")) == want
    env = subprocess.run(["/bin/sh", "-c", 'set -a; . "$1" && exec /usr/bin/env -0', "sh",
                          str(t / "app.env")], env={}, check=True, capture_output=True).stdout
    got = dict(item.split(b"=", 1) for item in env.split(b"\0") if b"=" in item)
    for k, v in want.items():
        assert got[k.encode()].decode("utf-8") == v, k
    # expand: a directory, one file per key
    assert sorted(os.listdir(t / "creds")) == sorted(SHAPED)
    for k, v in want.items():
        assert (t / "creds" / k).read_text(encoding="utf-8") == v, k
    # template
    assert (t / "database-url").read_text(encoding="utf-8") == (
        "postgres://app user:%s@db:5432/app?port=5432&x={{" % SHAPED["password"])


def check_pki_shapes(t, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    pem = (t / "tls.pem").read_bytes()
    blocks = pem_blocks(pem)
    assert len(blocks) >= 2 and len(set(blocks)) == len(blocks), "leaf, then the chain, once each"
    assert b"PRIVATE KEY" not in pem
    leaf = x509.load_pem_x509_certificate(blocks[0])
    assert leaf.subject.rfc4514_string() == "CN=app.example.com"
    (tmp_path / "leaf.pem").write_bytes(blocks[0])
    (tmp_path / "chain.pem").write_bytes(b"".join(blocks[1:]))
    out = openssl("verify", "-CAfile", str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem"))
    assert out.stdout.strip().endswith(b": OK")

    # the raw key matches the certificate of the pem file: one issuance
    key = serialization.load_pem_private_key((t / "tls.key").read_bytes(), None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()

    # pkcs12: openssl opens it with the password, finds the same certificate and key,
    # and reports the modern algorithms
    p12 = str(t / "keystore.p12")
    info = openssl("pkcs12", "-info", "-nokeys", "-in", p12, "-passin", "pass:ch@nge it").stderr
    assert b"MAC: sha256" in info
    assert info.count(b"PBES2, PBKDF2, AES-256-CBC") == 2, info
    certs = openssl("pkcs12", "-in", p12, "-passin", "pass:ch@nge it", "-nokeys").stdout
    assert pem_blocks(certs)[0] == blocks[0] or \
        x509.load_pem_x509_certificate(pem_blocks(certs)[0]) == leaf
    keys = openssl("pkcs12", "-in", p12, "-passin", "pass:ch@nge it", "-nocerts",
                   "-nodes").stdout
    k12 = serialization.load_pem_private_key(keys[keys.index(b"-----BEGIN"):], None)
    assert k12.public_key().public_numbers() == leaf.public_key().public_numbers()
    with pytest.raises(subprocess.CalledProcessError):
        openssl("pkcs12", "-in", p12, "-passin", "pass:wrong", "-nokeys")


def test_one_publish_every_shape(node, vault, tmp_path):  # noqa: F811
    vault.write_secret("secret", "myapp/shaped", SHAPED)
    d = node()
    pod = Pod(node.pods)
    before_kv = vault.requests_to("secret/data/myapp/shaped")
    d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                           "objects": OBJECTS}), timeout=60)
    t = pod.target
    # objects from one Vault request share it: one read, one issuance
    assert vault.requests_to("secret/data/myapp/shaped") - before_kv == 1
    assert vault.requests_to("pki/issue") == 1
    check_kv_shapes(t)
    check_pki_shapes(t, tmp_path)
    for name in ("app.env", "app.yaml", "app.json", "database-url", "tls.pem",
                 "keystore.p12", "tls.key", "creds/username", "creds/nested"):
        st = os.stat(t / name)
        assert stat.S_IMODE(st.st_mode) == 0o444 and st.st_uid == 0, name
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_env_key_not_an_identifier_is_refused(node, vault):  # noqa: F811
    vault.write_secret("secret", "myapp/dashed", {"GOOD": "x", "bad-key": "v4lue-canary"})
    d = node()
    pod = Pod(node.pods)
    objects = ("- objectName: ok\n  secretPath: secret/data/myapp/config\n"
               "- objectName: app.env\n  secretPath: secret/data/myapp/dashed\n  format: env\n")
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                               "objects": objects}), timeout=60)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT, e.value.details
    assert "app.env" in e.value.details and "'bad-key'" in e.value.details, e.value.details
    assert "v4lue-canary" not in e.value.details
    assert_clean(pod, node, vault)


@pytest.mark.parametrize("objects,needle", [
    ("- {objectName: a, secretPath: secret/data/myapp/config, secretKey: username, "
     "format: yaml}", "set only one of them"),
    ("- {objectName: a, secretPath: secret/data/myapp/config, template: '{{ username'}",
     "is not closed"),
    ("- {objectName: a, secretPath: secret/data/myapp/config, template: '{{ nope }}'}",
     "key 'nope' does not exist"),
    ("- {objectName: a, secretPath: secret/data/myapp/config, format: pkcs12, "
     "method: POST}", "needs a PKI issue response"),
    ("- {objectName: a, secretPath: secret/data/myapp/config, pkcs12Password: s3cr3t-pw}",
     "pkcs12Password applies only to format pkcs12"),
])
def test_nonsense_is_refused_before_anything_is_mounted(node, vault, objects, needle):  # noqa: F811
    d = node()
    pod = Pod(node.pods)
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", pod.publish_request(vault, {"roleName": "demo",
                                                               "objects": objects}), timeout=60)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT, e.value.details
    assert needle in e.value.details, e.value.details
    assert "s3cr3t" not in e.value.details
    assert_clean(pod, node, vault)


def test_shaped_files_change_exactly_when_inputs_change(node, vault):  # noqa: F811
    from test_rotation import FAST, file_stats, wait_until
    vault.write_secret("secret", "myapp/rot", {"A": "one", "B": "two", "C": "three"})
    objects = """
- {objectName: app.env, secretPath: secret/data/myapp/rot, format: env}
- {objectName: app.yaml, secretPath: secret/data/myapp/rot, format: yaml}
- {objectName: kv, secretPath: secret/data/myapp/rot, expand: true}
- {objectName: ab, secretPath: secret/data/myapp/rot, template: "{{ A }}-{{ B }}"}
- objectName: keystore.p12
  format: pkcs12
  secretPath: pki/issue/example-dot-com
  secretArgs: {common_name: app.example.com, ttl: 1h}
"""
    d = node(FAST)
    pod = Pod(node.pods)
    d.call("NodePublishVolume", pod.publish_request(
        vault, {"roleName": "demo", "objects": objects, "refreshInterval": "1s"}), timeout=60)
    t = pod.target
    names = ["app.env", "app.yaml", "kv/A", "kv/B", "kv/C", "ab", "keystore.p12"]
    before = file_stats(t, names)
    reads = vault.requests_to("secret/data/myapp/rot")
    time.sleep(3.5)
    # re-read every second or so, and nothing rewritten: same bytes, inodes, payload dir
    assert vault.requests_to("secret/data/myapp/rot") - reads >= 2
    assert file_stats(t, names) == before

    # a changed value, a new key, a removed key: every shaped file follows, in one swap
    vault.write_secret("secret", "myapp/rot", {"A": "uno", "B": "two", "D": "four"})
    wait_until(lambda: (t / "ab").read_text() == "uno-two", 8, what="the new version")
    assert (t / "app.env").read_text() == "A='uno'\nB='two'\nD='four'\n"
    assert yaml.safe_load((t / "app.yaml").read_text()) == {"A": "uno", "B": "two", "D": "four"}
    assert sorted(os.listdir(t / "kv")) == ["A", "B", "D"]
    assert (t / "kv" / "D").read_text() == "four"
    # the certificate's inputs did not change: the very same bundle (no re-issue)
    assert (t / "keystore.p12").read_bytes() == before["keystore.p12"][2]
    assert vault.requests_to("pki/issue") == 1
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)
