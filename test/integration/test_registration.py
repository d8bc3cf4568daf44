# SPDX-License-Identifier: Apache-2.0
"""Kubelet plugin registration, served by vaultmountd itself (issue 7).

The test plays kubelet's plugin watcher and plugin manager (csi-facts §4):
it watches the registration directory for a unix socket (polling with a
bound: kubelet's reconciler runs every second anyway), calls GetInfo with
kubelet's 1 s deadline, checks what a CSI handler validates, calls CSI
NodeGetInfo on the endpoint the plugin named, and sends the verdict with
NotifyRegistrationStatus. Messages come from our pluginregistration.proto,
compiled by `protoc --python_out` at test time, and the calls go through
Debian's python3-grpcio, an implementation independent of ours.
"""
import os
import stat
import threading
import time

import grpc
import pytest

import vmtest
from vmtest import CallError, csi_pb2

reg_pb2 = vmtest.generated_pb2("pluginregistration")

DRIVER = "csi.vaultmount.io"
GET_INFO = "/pluginregistration.Registration/GetInfo"
NOTIFY = "/pluginregistration.Registration/NotifyRegistrationStatus"
KUBELET_GET_INFO_DEADLINE = 1.0  # seconds, kubelet's own
POLL = 0.02


def reg_call(sock, path, request, resp_cls, timeout):
    with grpc.insecure_channel("unix://" + sock) as ch:
        fn = ch.unary_unary(path, request_serializer=type(request).SerializeToString,
                            response_deserializer=resp_cls.FromString)
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as e:
            raise CallError(e.code(), e.details())


class PluginWatcher:
    """What kubelet's plugin watcher sees in plugins_registry: unix sockets
    whose names do not start with '.', each with an identity that changes
    when the file is re-created (kubelet keys on a new Create event)."""

    def __init__(self, directory):
        self.dir = directory

    def sockets(self):
        found = {}
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return found
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(self.dir, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                found[path] = (st.st_ino, st.st_ctime_ns)
        return found

    def wait_for(self, path, timeout=10, not_identity=None):
        """Waits until `path` is a socket (with another identity than
        `not_identity`); returns (identity, monotonic time seen)."""
        deadline = time.monotonic() + timeout
        while True:
            ident = self.sockets().get(path)
            if ident is not None and ident != not_identity:
                return ident, time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError("no (new) socket %s within %ss; dir has %s" % (
                    path, timeout, sorted(os.listdir(self.dir)) if os.path.isdir(self.dir)
                    else "nothing"))
            time.sleep(POLL)

    def wait_gone(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while path in self.sockets():
            if time.monotonic() > deadline:
                raise AssertionError("socket %s still there after %ss" % (path, timeout))
            time.sleep(POLL)
        return time.monotonic()


class Kubelet:
    """Kubelet's CSI plugin handler, step by step, checking every answer."""

    def __init__(self, directory):
        self.watcher = PluginWatcher(directory)
        self.sock = os.path.join(directory, DRIVER + "-reg.sock")

    def get_info(self):
        t0 = time.monotonic()
        info = reg_call(self.sock, GET_INFO, reg_pb2.InfoRequest(), reg_pb2.PluginInfo,
                        timeout=KUBELET_GET_INFO_DEADLINE)
        return info, time.monotonic() - t0

    def validate(self, info):
        assert info.type == "CSIPlugin"
        assert info.name == DRIVER
        versions = list(info.supported_versions)
        assert versions == ["1.0.0"]
        # kubelet's validator: at least one parseable major-1 version
        assert any(v.lstrip("v").split(".")[0] == "1" for v in versions)
        assert info.endpoint, "an empty endpoint would mean 'CSI on the registration socket'"

    def notify(self, registered, error=""):
        return reg_call(self.sock, NOTIFY,
                        reg_pb2.RegistrationStatus(plugin_registered=registered, error=error),
                        reg_pb2.RegistrationStatusResponse, timeout=5)

    def register(self, node_id):
        """GetInfo → validate → NodeGetInfo on the endpoint → notify(true)."""
        info, took = self.get_info()
        self.validate(info)
        assert took < KUBELET_GET_INFO_DEADLINE
        node = vmtest.call(info.endpoint, "NodeGetInfo", timeout=120)
        assert node.node_id == node_id
        self.notify(True)
        return info


def reg_daemon(daemons, tmp_path, extra=(), name=None, node="node-a"):
    regdir = tmp_path / "plugins_registry"
    regdir.mkdir(exist_ok=True, mode=0o755)
    d = daemons(["--registration-dir=%s" % regdir, "--node-id=%s" % node] + list(extra),
                name=name)
    return d, Kubelet(str(regdir))


def test_kubelet_registers_the_driver(daemons, tmp_path):
    d, kubelet = reg_daemon(daemons, tmp_path)
    ident, _ = kubelet.watcher.wait_for(kubelet.sock)
    st = os.lstat(kubelet.sock)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    # nothing else appears in kubelet's directory
    assert list(kubelet.watcher.sockets()) == [kubelet.sock]
    assert os.listdir(os.path.dirname(kubelet.sock)) == [os.path.basename(kubelet.sock)]

    info = kubelet.register("node-a")
    # the endpoint defaults to the CSI socket's path (a plain path: kubelet dials it as is)
    assert info.endpoint == d.socket
    d.wait_for_log(r"kubelet registered driver 'csi\.vaultmount\.io'")
    # a true verdict leaves the socket alone (no re-creation), even past the backoff
    time.sleep(1.5)
    assert kubelet.watcher.sockets().get(kubelet.sock) == ident

    # shutdown removes it: kubelet deregisters the driver
    assert d.stop() == 0
    assert not os.path.exists(kubelet.sock)
    assert not os.path.exists(d.socket)


def test_false_notification_recreates_the_socket_with_backoff(daemons, tmp_path):
    d, kubelet = reg_daemon(daemons, tmp_path)
    ident1, _ = kubelet.watcher.wait_for(kubelet.sock)
    kubelet.register("node-a")

    # kubelet failed later (e.g. CSINode update): it says so and will not retry by itself
    kubelet.notify(False, "RegisterPlugin error -- failed to update CSINode: it's 'broken'")
    gone1 = kubelet.watcher.wait_gone(kubelet.sock, timeout=5)
    ident2, back1 = kubelet.watcher.wait_for(kubelet.sock, timeout=10, not_identity=ident1)
    line = d.wait_for_log(r"kubelet refused to register driver")
    assert "failed to update CSINode" in line and "re-creating the registration socket in 1s" \
        in line
    d.wait_for_log(r"plugin registration: re-created")
    assert ident2 != ident1  # a new file: kubelet sees a Create with a new timestamp
    assert back1 - gone1 >= 0.8, "re-created without waiting for the backoff"

    # the new socket serves the whole sequence again
    kubelet.validate(kubelet.get_info()[0])
    node = vmtest.call(d.socket, "NodeGetInfo")
    assert node.node_id == "node-a"

    # a second refusal in a row waits longer (1 s doubling)
    kubelet.notify(False, "again")
    gone2 = kubelet.watcher.wait_gone(kubelet.sock, timeout=5)
    ident3, back2 = kubelet.watcher.wait_for(kubelet.sock, timeout=15, not_identity=ident2)
    assert back2 - gone2 >= 1.8, (back1 - gone1, back2 - gone2)
    assert "re-creating the registration socket in 2s" in d.wait_for_log(r"refused.*'again'")

    # success resets the backoff
    kubelet.register("node-a")
    kubelet.notify(False, "third")
    assert "in 1s" in d.wait_for_log(r"refused.*'third'")
    kubelet.watcher.wait_for(kubelet.sock, timeout=10, not_identity=ident3)
    kubelet.register("node-a")
    assert d.stop() == 0
    assert not os.path.exists(kubelet.sock)


def test_get_info_answers_within_kubelets_deadline_while_every_worker_is_busy(daemons, tmp_path):
    workers = 2
    d, kubelet = reg_daemon(daemons, tmp_path, ["--workers=%d" % workers,
                                                "--test-publish-delay=6s", "--log-level=debug"])
    kubelet.watcher.wait_for(kubelet.sock)
    results = []

    def publish(i):
        req = csi_pb2.NodePublishVolumeRequest(
            volume_id="csi-busy-%d" % i, target_path=str(tmp_path / ("t%d" % i)),
            volume_capability=vmtest.mount_capability())
        try:
            d.call("NodePublishVolume", req, timeout=120)
            results.append(("OK", time.monotonic()))
        except CallError as e:
            results.append((e.code, time.monotonic()))

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(workers + 1)]
    for t in threads:
        t.start()
    assert d.wait_for_count(r"test-publish-delay: holding this worker", workers) == workers
    # the whole of kubelet's registration happens while every worker sleeps
    timings = []
    for _ in range(5):
        info, took = kubelet.get_info()
        kubelet.validate(info)
        timings.append(took)
    kubelet.register("node-a")
    done = time.monotonic()
    assert max(timings) < 0.5, timings
    assert results == [] or min(r[1] for r in results) > done, results
    for t in threads:
        t.join(timeout=120)
    assert len(results) == workers + 1


def test_kubelet_endpoint_flag_is_announced_as_a_plain_path(daemons, tmp_path):
    host_path = "/var/lib/kubelet/plugins/csi.vaultmount.io/csi.sock"
    d, kubelet = reg_daemon(daemons, tmp_path, ["--kubelet-endpoint=unix://" + host_path])
    kubelet.watcher.wait_for(kubelet.sock)
    info, _ = kubelet.get_info()
    kubelet.validate(info)
    assert info.endpoint == host_path
    d.wait_for_log(r"KUBELET_ENDPOINT=/var/lib/kubelet/plugins/csi\.vaultmount\.io/csi\.sock")


def test_registration_can_be_turned_off(daemons, tmp_path):
    regdir = tmp_path / "plugins_registry"
    regdir.mkdir()
    d = daemons(["--registration-dir="])
    d.wait_for_log(r"plugin registration is off")
    d.call("NodeGetInfo")
    assert os.listdir(regdir) == []


def test_a_busy_registration_socket_is_retried_not_fatal(daemons, tmp_path):
    """Another process serves the name (a node-driver-registrar left on, or a
    second daemon in a test): the CSI service still starts, the registration
    is retried with backoff and taken over once the socket is free."""
    first, kubelet = reg_daemon(daemons, tmp_path, name="first", node="node-1")
    ident1, _ = kubelet.watcher.wait_for(kubelet.sock)
    second, _ = reg_daemon(daemons, tmp_path, name="second", node="node-2")
    second.wait_for_log(r"plugin registration: another process is listening on .*retrying in 1s")
    assert second.call("NodeGetInfo").node_id == "node-2"
    assert kubelet.register("node-1").endpoint == first.socket
    assert first.stop() == 0
    ident2, _ = kubelet.watcher.wait_for(kubelet.sock, timeout=15, not_identity=ident1)
    info = kubelet.register("node-2")
    assert info.endpoint == second.socket
    assert second.stop() == 0
    assert not os.path.exists(kubelet.sock)


@pytest.mark.parametrize("args, needle", [
    (["--registration-dir=relative/dir"], "registration-dir: 'relative/dir' is not an absolute"),
    (["--registration-dir=/" + "d" * 100], "longer than a unix socket address allows"),
    (["--kubelet-endpoint=tcp://1.2.3.4:5"], "kubelet-endpoint:"),
])
def test_bad_registration_settings_stop_the_start(daemons, tmp_path, args, needle):
    # registration is on (test daemons default to --registration-dir= , i.e. off)
    if not any(a.startswith("--registration-dir") for a in args):
        args = ["--registration-dir=%s" % (tmp_path / "registry")] + list(args)
    d = daemons(args, start=False, expect_exit=1)
    d.start(wait=False)
    assert d.wait() == 1
    assert needle in d.log
    assert not os.path.exists(d.socket)


def test_second_signal_removes_the_registration_socket_too(daemons, tmp_path):
    d, kubelet = reg_daemon(daemons, tmp_path, ["--workers=1", "--test-publish-delay=30s",
                                                "--shutdown-grace=30s", "--log-level=debug"])
    d.expect_exit = 128 + 15
    kubelet.watcher.wait_for(kubelet.sock)
    req = csi_pb2.NodePublishVolumeRequest(volume_id="csi-hold", target_path=str(tmp_path / "t"),
                                           volume_capability=vmtest.mount_capability())
    t = threading.Thread(target=lambda: pytest.raises(CallError, d.call, "NodePublishVolume",
                                                      req, 120), daemon=True)
    t.start()
    d.wait_for_log(r"test-publish-delay: holding this worker")
    d.signal()
    d.wait_for_log(r"shutting down")
    d.signal()
    assert d.wait() == 128 + 15
    assert not os.path.exists(kubelet.sock)
    assert not os.path.exists(d.socket)
