# SPDX-License-Identifier: Apache-2.0
"""Issue 14: what a request supplies is data, bounded, and never echoed.

- volume_id and target_path are compared at their wire length: a NUL or a control
  character is INVALID_ARGUMENT, so "nulvol\\0three" can never act on "nulvol";
- state keys are injective: a literal volume id "h-<sha256 of another id>" gets its
  own state dir;
- the `objects` limit at publish is the limit a restarted daemon reloads;
- Vault's error text never carries back what the request sent (secretArgs values,
  the query, the role, the JWT), and token-JSON keys are never echoed.

Real daemon, real mounts, the Vault dev server (test_publish fixtures).
"""
import hashlib
import json
import os
import time

import grpc
import pytest

import vmtest
from test_publish import KV_OBJECTS, Pod, assert_clean, node, vault  # noqa: F401  (fixtures)
from vmtest import CallError, csi_pb2

ATTRS = {"roleName": "demo", "objects": KV_OBJECTS}
OBJECTS_MAX = 1024 * 1024


def _expect_invalid(fn, *needles):
    with pytest.raises(CallError) as e:
        fn()
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT, (e.value.code, e.value.details)
    for n in needles:
        assert n in e.value.details, e.value.details
    return e.value.details


def _state_dirs(node_):
    return sorted(os.listdir(os.path.join(node_.state, "volumes")))


@pytest.mark.parametrize("field", ["volume_id", "target_path"])
@pytest.mark.parametrize("method", ["NodePublishVolume", "NodeUnpublishVolume"])
def test_nul_in_ids_is_refused(daemons, tmp_path, method, field):
    d = daemons()
    kw = dict(volume_id="csi-abc", target_path=str(tmp_path / "t" / "mount"))
    kw[field] = kw[field] + "\0tail"
    if method == "NodePublishVolume":
        req = csi_pb2.NodePublishVolumeRequest(volume_capability=vmtest.mount_capability(),
                                               **kw)
    else:
        req = csi_pb2.NodeUnpublishVolumeRequest(**kw)
    _expect_invalid(lambda: d.call(method, req), "'%s'" % field, "NUL")


@pytest.mark.parametrize("bad", ["\n", "\x01", "\x7f", "\u0085"])
@pytest.mark.parametrize("field", ["volume_id", "target_path"])
def test_control_characters_in_ids_are_refused(daemons, tmp_path, field, bad):
    d = daemons()
    kw = dict(volume_id="csi-abc", target_path=str(tmp_path / "t" / "mount"))
    kw[field] = kw[field][:4] + bad + kw[field][4:]
    for method, req in (
            ("NodePublishVolume", csi_pb2.NodePublishVolumeRequest(
                volume_capability=vmtest.mount_capability(), **kw)),
            ("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(**kw))):
        _expect_invalid(lambda: d.call(method, req), field, "control character")
    assert not (tmp_path / "t").exists()


def test_unpublish_of_nul_id_leaves_the_other_volume(node, vault):
    d = node()
    pod = Pod(node.pods)
    pod.volume_id = "nulvol"
    d.call("NodePublishVolume", pod.publish_request(vault, ATTRS))
    other = csi_pb2.NodeUnpublishVolumeRequest(volume_id="nulvol\0three",
                                               target_path=str(pod.target))
    _expect_invalid(lambda: d.call("NodeUnpublishVolume", other), "NUL")
    assert (pod.target / "username").read_text() == "appuser"
    assert _state_dirs(node) == ["nulvol"]
    d.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


def test_hashed_state_key_cannot_be_claimed_by_a_literal_id(node, vault):
    d = node()
    a = Pod(node.pods, name="a-0", volume="a")
    a.volume_id = "ns/a:unsafe id"  # not a file name: hashed
    b = Pod(node.pods, name="b-0", volume="b")
    b.volume_id = "h-" + hashlib.sha256(a.volume_id.encode()).hexdigest()
    d.call("NodePublishVolume", a.publish_request(vault, ATTRS))
    d.call("NodePublishVolume", b.publish_request(vault, ATTRS))
    dirs = _state_dirs(node)
    assert len(dirs) == 2, dirs
    ids = set()
    for k in dirs:
        with open(os.path.join(node.state, "volumes", k, "record.json")) as f:
            ids.add(json.load(f)["volume_id"])
    assert ids == {a.volume_id, b.volume_id}
    # both survive a restart and unpublish cleanly, each from its own state
    assert d.stop() == 0
    d2 = node(name="restarted")
    d2.wait_for_log(r"recovered 2 published volume")
    d2.call("NodeUnpublishVolume", b.unpublish_request())
    assert (a.target / "username").read_text() == "appuser"
    d2.call("NodeUnpublishVolume", a.unpublish_request())
    assert_clean(a, node, vault)
    assert_clean(b, node, vault)


def _objects_of_size(size):
    body = KV_OBJECTS.rstrip("\n") + "\n# "
    pad = size - len(body.encode()) - 1
    assert pad > 0
    return body + "x" * pad + "\n"


def test_objects_over_the_limit_is_refused(node, vault):
    d = node()
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "objects": _objects_of_size(OBJECTS_MAX + 1)}
    _expect_invalid(lambda: d.call("NodePublishVolume", pod.publish_request(vault, attrs),
                                   timeout=30), "objects", str(OBJECTS_MAX))
    assert not pod.target.exists()
    assert vault.live_tokens() == []


def test_objects_at_the_limit_survive_a_restart(node, vault):
    d = node(["--refresh-interval=1s", "--test-refresh-interval-min=500ms"])
    pod = Pod(node.pods)
    attrs = {"roleName": "demo", "objects": _objects_of_size(OBJECTS_MAX)}
    assert len(attrs["objects"].encode()) == OBJECTS_MAX
    d.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=30)
    assert d.stop() == 0
    reads = vault.requests_to("secret/data/myapp/config")
    d2 = node(["--refresh-interval=1s", "--test-refresh-interval-min=500ms"], name="restarted")
    d2.wait_for_log(r"back on the refresh schedule", timeout=30)
    # the reloaded objects drive the refresh: the same token reads the KV again
    deadline = time.monotonic() + 30
    while vault.requests_to("secret/data/myapp/config") <= reads:
        assert time.monotonic() < deadline, "no refresh read after the restart"
        time.sleep(0.2)
    assert "waiting" not in json.load(open(pod.target / "..vaultmount-status.json"))["state"]
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)


CANARY = "canary7q"


def _failure(d, pod, vault, attrs):
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=30)
    return e.value


@pytest.mark.parametrize("arg", ["common_name", "alt_names"])
def test_vault_error_text_never_quotes_secret_args(node, vault, arg):
    d = node()
    pod = Pod(node.pods)
    value = "%s-x.not-allowed.test" % CANARY
    args = {"common_name": "app.example.com"}
    args[arg] = value
    objects = json.dumps([{"objectName": "tls.crt", "secretPath": "pki/issue/example-dot-com",
                           "secretKey": "certificate", "secretArgs": args}])
    err = _failure(d, pod, vault, {"roleName": "demo", "objects": objects})
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT, (err.code, err.details)
    assert "not allowed by this role" in err.details, err.details  # Vault's words stay
    assert "***" in err.details, err.details
    assert CANARY not in err.details, err.details
    d.wait_for_log(r"not allowed by this role")
    assert CANARY not in d.log
    assert_clean(pod, node, vault)


def test_vault_error_text_never_quotes_the_role(node, vault):
    d = node()
    pod = Pod(node.pods)
    role = "%s-role" % CANARY
    err = _failure(d, pod, vault, {"roleName": role, "objects": KV_OBJECTS})
    # our own words name the attribute; Vault's quoted text must not repeat it
    vault_text = err.details.split("(HTTP 400): ", 1)[1]
    assert vault_text == 'invalid role name "***"', err.details
    assert_clean(pod, node, vault)


def test_token_json_keys_are_not_echoed(node, vault):
    d = node()
    pod = Pod(node.pods)
    req = pod.publish_request(vault, ATTRS, audience="%s-aud" % CANARY)
    err = _expect_invalid(lambda: d.call("NodePublishVolume", req), "audience 'vault'",
                          "1 other audience")
    assert CANARY not in err
    assert CANARY not in d.log


def test_token_that_is_not_a_jwt_never_reaches_vault(node, vault):
    d = node()
    pod = Pod(node.pods)
    logins = vault.requests_to("auth/kubernetes/login")
    _expect_invalid(lambda: d.call("NodePublishVolume", pod.publish_request(
        vault, ATTRS, jwt="%s-not-a-jwt" % CANARY)), "not a JWT")
    assert vault.requests_to("auth/kubernetes/login") == logins
    assert CANARY not in d.log
    assert_clean(pod, node, vault)


def test_ignored_kubelet_keys_do_not_stop_a_restart(node, vault):
    """An ignored csi.storage.k8s.io/* key of any size must not keep the volume's state
    from reloading (its record would be over the reload limit): it is not kept."""
    d = node()
    pod = Pod(node.pods)
    attrs = dict(ATTRS)
    attrs["csi.storage.k8s.io/some.future-key"] = "x" * (1536 * 1024)
    d.call("NodePublishVolume", pod.publish_request(vault, attrs), timeout=30)
    assert d.stop() == 0
    d2 = node(name="restarted")
    d2.wait_for_log(r"recovered 1 published volume")
    d2.call("NodeUnpublishVolume", pod.unpublish_request())
    assert_clean(pod, node, vault)
