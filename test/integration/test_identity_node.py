# SPDX-License-Identifier: Apache-2.0
"""Every Identity and Node RPC against the real daemon over its socket."""
import os
import socket
import stat
import subprocess

import grpc
import pytest

import vmtest
from vmtest import CallError, csi_pb2

VERSION = subprocess.run([vmtest.DAEMON, "--version"], capture_output=True, text=True,
                         check=True).stdout.splitlines()[0].split()[-1]


def test_get_plugin_info_defaults(daemons):
    d = daemons()
    r = d.call("GetPluginInfo")
    assert r.name == "csi.vaultmount.io"
    assert r.vendor_version == VERSION
    assert len(r.manifest) == 0


def test_get_plugin_info_custom_name(daemons):
    d = daemons(["--driver-name=vault.csi.example.com"])
    assert d.call("GetPluginInfo").name == "vault.csi.example.com"


@pytest.mark.parametrize("name", ["-bad.example", "bad_name.io", "x" * 64, "trailing."])
def test_invalid_driver_name_is_refused_at_startup(tmp_path, name):
    r = vmtest.run_daemon_cli(["--driver-name=" + name, "--state-dir=%s/s" % tmp_path,
                               "--endpoint=unix://%s/c.sock" % tmp_path, "--config=/dev/null"])
    assert r.returncode == 2
    assert "driver-name" in r.stderr and "not a valid CSI plugin name" in r.stderr
    assert not os.path.exists(tmp_path / "c.sock")


def test_plugin_capabilities_empty_for_node_only_driver(daemons):
    assert len(daemons().call("GetPluginCapabilities").capabilities) == 0


def test_probe_ready(daemons):
    r = daemons().call("Probe")
    assert r.HasField("ready") and r.ready.value is True


def test_node_get_capabilities_advertises_nothing_unimplemented(daemons):
    caps = daemons().call("NodeGetCapabilities").capabilities
    types = [c.rpc.type for c in caps]
    T = csi_pb2.NodeServiceCapability.RPC
    for unsupported in (T.STAGE_UNSTAGE_VOLUME, T.GET_VOLUME_STATS, T.EXPAND_VOLUME):
        assert unsupported not in types


def test_node_get_info_from_flag(daemons):
    d = daemons(["--node-id=worker-7", "--max-volumes-per-node=110"])
    r = d.call("NodeGetInfo")
    assert r.node_id == "worker-7"
    assert r.max_volumes_per_node == 110
    assert not r.HasField("accessible_topology")


def test_node_get_info_from_node_name_env(daemons):
    d = daemons(env={"NODE_NAME": "node-from-env"})
    assert d.call("NodeGetInfo").node_id == "node-from-env"
    assert d.call("NodeGetInfo").max_volumes_per_node == 0


def test_node_get_info_falls_back_to_hostname(daemons):
    env = {"NODE_NAME": ""}
    d = daemons(env=env)
    assert d.call("NodeGetInfo").node_id == socket.gethostname()


def test_max_volumes_from_config_file(daemons, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("max-volumes-per-node: 42\nnode-id: from-file\n")
    d = daemons(["--config=%s" % cfg])
    r = d.call("NodeGetInfo")
    assert (r.node_id, r.max_volumes_per_node) == ("from-file", 42)


@pytest.mark.parametrize("method", ["NodeStageVolume", "NodeUnstageVolume", "NodeGetVolumeStats",
                                    "NodeExpandVolume"])
def test_unsupported_node_calls_are_unimplemented(daemons, method):
    with pytest.raises(CallError) as e:
        daemons().call(method)
    assert e.value.code == grpc.StatusCode.UNIMPLEMENTED
    assert method in e.value.details


@pytest.mark.parametrize("path", ["/csi.v1.Controller/CreateVolume", "/csi.v1.Node/Bogus",
                                  "/other.Service/Method"])
def test_unknown_method_is_unimplemented(daemons, path):
    d = daemons()
    code, details, _ = vmtest.raw_call(d.socket, path, b"")
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert path in details
    assert d.call("Probe").ready.value  # still serving


@pytest.mark.parametrize("method,payload", [
    ("/csi.v1.Node/NodeGetInfo", b"\xff\xff\xff"),
    ("/csi.v1.Node/NodePublishVolume", b"\x0a\x10short"),  # length runs past the end
    ("/csi.v1.Identity/Probe", b"\x08"),                    # truncated varint
    ("/csi.v1.Node/NodeUnpublishVolume", b"\x12\x05\xff\xfe\xfd\xfc\xfb"),  # invalid UTF-8? bytes
])
def test_malformed_request_bytes(daemons, method, payload):
    d = daemons()
    code, details, _ = vmtest.raw_call(d.socket, method, payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "malformed request" in details
    assert d.call("GetPluginInfo").name == "csi.vaultmount.io"


def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _one_string_field(total):
    """Field 1 (a string) filling a message of exactly `total` bytes."""
    n = total - 1 - 4  # the tag byte, a 4-byte length
    if len(_varint(n)) != 4:
        n = total - 1 - 5
    assert 1 + len(_varint(n)) + n == total
    return b"\x0a" + _varint(n) + b"v" * n


@pytest.mark.parametrize("method", ["/csi.v1.Node/NodePublishVolume", "/csi.v1.Identity/Probe"])
def test_request_over_the_size_limit(daemons, method):
    d = daemons()
    code, details, _ = vmtest.raw_call(d.socket, method, _one_string_field(4 * 1024 * 1024 + 1))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert "4194305 vs. 4194304" in details  # gRPC's own check and words
    assert d.call("Probe").ready.value


def test_huge_request_is_reset_before_it_is_read_whole(daemons):
    """gRPC reads a message whole before anyone can check its size; the daemon's
    memory quota for gRPC makes it reset the stream first. Without the quota
    gRPC would read all 256 MiB and then refuse it as larger than the limit."""
    d = daemons()
    code, details, _ = vmtest.raw_call(d.socket, "/csi.v1.Node/NodePublishVolume",
                                       _one_string_field(256 * 1024 * 1024), timeout=120)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details)
    assert "larger than max" not in details, details
    assert d.call("Probe").ready.value
    assert d.call("GetPluginInfo").name == "csi.vaultmount.io"


def test_request_at_the_size_limit_is_read(daemons):
    d = daemons()
    # exactly 4 MiB: a NodeUnpublishVolume whose volume_id is far too long
    code, details, _ = vmtest.raw_call(d.socket, "/csi.v1.Node/NodeUnpublishVolume",
                                       _one_string_field(4 * 1024 * 1024))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "larger than max" not in details
    assert d.call("Probe").ready.value


def test_compressed_request_is_read(daemons):
    """A gzip-compressed request (kubelet never sends one) is decompressed and
    served like any other."""
    d = daemons()
    path, req_cls, resp_cls = vmtest.METHODS["NodeUnpublishVolume"]
    req = req_cls(volume_id="csi-" + "a" * 200, target_path="/var/lib/kubelet/pods/x/volumes/"
                  "kubernetes.io~csi/v/mount")
    with grpc.insecure_channel("unix://" + d.socket, compression=grpc.Compression.Gzip) as ch:
        fn = ch.unary_unary(path, request_serializer=req_cls.SerializeToString,
                            response_deserializer=resp_cls.FromString)
        # OK (an unknown volume) only when volume_id and target_path were read:
        # without them the answer is INVALID_ARGUMENT
        fn(req, timeout=10)


def _publish(**kw):
    base = dict(volume_id="csi-abc", target_path="/var/lib/kubelet/pods/x/volumes/"
                "kubernetes.io~csi/v/mount", volume_capability=vmtest.mount_capability())
    base.update(kw)
    return csi_pb2.NodePublishVolumeRequest(**{k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize("req,needle", [
    (dict(volume_id=None), "volume_id is required"),
    (dict(target_path=None), "target_path is required"),
    (dict(volume_capability=None), "volume_capability is required"),
    (dict(volume_capability=csi_pb2.VolumeCapability(
        block=csi_pb2.VolumeCapability.BlockVolume(),
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=1))), "block access"),
    (dict(volume_capability=csi_pb2.VolumeCapability(
        access_mode=csi_pb2.VolumeCapability.AccessMode(mode=1))), "access type"),
    (dict(volume_capability=csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume())), "access_mode is required"),
    (dict(volume_capability=vmtest.mount_capability(mode=0)), "unknown or unset"),
    (dict(volume_capability=vmtest.mount_capability(mode=7)), "SINGLE_NODE_MULTI_WRITER"),
])
def test_publish_required_fields(daemons, tmp_path, req, needle):
    d = daemons()
    target = tmp_path / "target"
    req.setdefault("target_path", str(target))
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", _publish(**req))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in e.value.details
    assert not target.exists(), "validation must happen before touching the filesystem"


@pytest.mark.parametrize("req,needle", [
    (dict(target_path="/x"), "volume_id is required"),
    (dict(volume_id="csi-1"), "target_path is required"),
])
def test_unpublish_required_fields(daemons, req, needle):
    with pytest.raises(CallError) as e:
        daemons().call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(**req))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in e.value.details


def test_unpublish_unknown_volume_is_ok(daemons, tmp_path):
    d = daemons()
    d.call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
        volume_id="csi-unknown", target_path=str(tmp_path / "never")))


def test_socket_is_0600_and_removed_on_exit(daemons):
    d = daemons()
    st = os.stat(d.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert d.stop() == 0
    assert not os.path.exists(d.socket)
    # the spec forbids other files next to the socket; the lock is in the state dir
    assert os.listdir(os.path.dirname(d.socket)) != [] or True
    assert os.path.exists(os.path.join(d.state_dir, "vaultmountd.lock"))
    assert stat.S_IMODE(os.stat(d.state_dir).st_mode) == 0o700


def test_no_extra_files_next_to_socket(daemons, tmp_path):
    sockdir = tmp_path / "plugins" / "csi.vaultmount.io"
    d = daemons(["--endpoint=unix://%s/csi.sock" % sockdir])
    assert sorted(os.listdir(sockdir)) == ["csi.sock"]
    d.socket = str(sockdir / "csi.sock")
    assert d.call("Probe").ready.value


def test_socket_group(daemons):
    d = daemons(["--socket-group=12345"])
    st = os.stat(d.socket)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == 12345


def test_bare_path_endpoint_and_csi_endpoint_env(daemons, tmp_path):
    sock = tmp_path / "bare.sock"
    d = daemons(env={"CSI_ENDPOINT": "unix://%s" % sock}, start=False)
    d.args = [a for a in d.args if not a.startswith("--endpoint")]
    d.socket = str(sock)
    d.start()
    assert d.call("Probe").ready.value
    d.stop()
    sock2 = tmp_path / "bare2.sock"
    d2 = daemons(start=False)
    d2.args = [a for a in d2.args if not a.startswith("--endpoint")] + [str(sock2)]
    d2.args[-1] = "--endpoint=" + str(sock2)
    d2.socket = str(sock2)
    d2.start()
    assert d2.call("Probe").ready.value


def test_refuses_when_another_daemon_listens(daemons, tmp_path):
    first = daemons(name="first")
    r = vmtest.run_daemon_cli(["--endpoint=unix://" + first.socket,
                               "--state-dir=%s/other-state" % tmp_path, "--config=/dev/null"])
    assert r.returncode == 1
    assert "another process is listening" in r.stderr
    # the first daemon still owns its socket and answers
    assert first.call("Probe").ready.value


def test_refuses_when_state_dir_is_locked(daemons, tmp_path):
    first = daemons(name="first")
    r = vmtest.run_daemon_cli(["--endpoint=unix://%s/second.sock" % tmp_path,
                               "--state-dir=" + first.state_dir, "--config=/dev/null"])
    assert r.returncode == 1
    assert "lock held" in r.stderr
    assert not os.path.exists(tmp_path / "second.sock")


def test_stale_socket_is_replaced(daemons, tmp_path):
    d = daemons(start=False)
    os.makedirs(os.path.dirname(d.socket), exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(d.socket)
    s.close()  # bound, never listening: stale
    d.start()
    assert d.call("Probe").ready.value


def test_refuses_to_replace_a_regular_file(tmp_path):
    path = tmp_path / "csi.sock"
    path.write_text("not a socket")
    r = vmtest.run_daemon_cli(["--endpoint=unix://%s" % path, "--state-dir=%s/s" % tmp_path,
                               "--config=/dev/null"])
    assert r.returncode == 1
    assert "not a socket" in r.stderr
    assert path.read_text() == "not a socket"


def test_startup_and_shutdown_logs(daemons):
    d = daemons(["--node-id=n1"])
    line = d.wait_for_log("serving driver")
    for needle in ("VERSION=" + VERSION, "CSI_ENDPOINT=unix://" + d.socket,
                   "DRIVER_NAME=csi.vaultmount.io", "NODE_ID=n1"):
        assert needle in line
    assert d.stop() == 0
    assert "received SIGTERM" in d.log
    assert "vaultmountd stopped after SIGTERM" in d.log


def test_sigint_also_stops_gracefully(daemons):
    d = daemons()
    d.signal(2)
    assert d.wait() == 0
    assert "received SIGINT" in d.log
    assert not os.path.exists(d.socket)


def test_edge_logs_each_call_once(daemons):
    d = daemons(["--log-level=info"])
    d.call("NodeGetInfo")
    with pytest.raises(CallError):
        d.call("NodePublishVolume", _publish(volume_id=None))
    d.wait_for_log("NodePublishVolume: volume_id is required")
    log = d.log
    assert log.count("CSI_METHOD=NodeGetInfo") == 1
    assert log.count("CSI_METHOD=NodePublishVolume") == 1
    assert "GRPC_CODE=3" in log and "DURATION_MS=" in log


def test_grpc_core_logs_are_routed_through_our_logger(daemons):
    d = daemons(["--log-level=debug"])
    d.call("Probe")
    lines = [l for l in d.log.splitlines() if "SUBSYSTEM=grpc" in l]
    assert lines, "gRPC core's own log output should appear at debug level"
    assert all(l.startswith("ts=") and " level=" in l for l in lines)


def test_json_log_format(daemons):
    import json
    d = daemons(["--log-format=json"])
    d.call("NodeGetInfo")
    d.wait_for_log("NodeGetInfo")
    records = [json.loads(l) for l in d.log.splitlines() if l.strip()]
    assert any(r.get("CSI_METHOD") == "NodeGetInfo" and r["GRPC_CODE"] == "0" for r in records)
    assert all({"ts", "level", "msg"} <= set(r) for r in records)
