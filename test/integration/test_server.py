# SPDX-License-Identifier: Apache-2.0
"""Server behaviour: fast lane, graceful shutdown, signals, connection churn, probe."""
import os
import re
import signal
import socket
import threading
import time

import grpc
import pytest

import vmtest
from vmtest import CallError, csi_pb2


def _publish_req(tmp_path, i):
    return csi_pb2.NodePublishVolumeRequest(
        volume_id="csi-slow-%d" % i, target_path=str(tmp_path / ("t%d" % i)),
        volume_capability=vmtest.mount_capability())


def _slow_publishes(d, tmp_path, n, results):
    def run(i):
        try:
            d.call("NodePublishVolume", _publish_req(tmp_path, i), timeout=120)
            results.append((i, "OK", time.monotonic()))
        except CallError as e:
            results.append((i, e.code, time.monotonic()))
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads


def test_fast_lane_answers_while_every_worker_is_busy(daemons, tmp_path):
    workers = 2
    d = daemons(["--workers=%d" % workers, "--test-publish-delay=4s", "--log-level=debug"])
    results = []
    # more slow calls than workers: every worker is stuck, others queue
    threads = _slow_publishes(d, tmp_path, workers + 2, results)
    # wait until every worker is inside a slow handler (each logs when it starts holding)
    assert d.wait_for_count(r"test-publish-delay: holding this worker", workers) == workers
    fast_done = []
    for method in ("Probe", "GetPluginInfo", "GetPluginCapabilities", "NodeGetCapabilities",
                   "NodeGetInfo"):
        d.call(method, timeout=30)
        fast_done.append(time.monotonic())
    # the fast calls all finished before any slow publish did
    assert results == [] or min(r[2] for r in results) > max(fast_done), results
    for t in threads:
        t.join(timeout=120)
    assert len(results) == workers + 2
    # each publish ended with its real outcome (these requests name no roleName), none lost
    assert all(r[1] == grpc.StatusCode.INVALID_ARGUMENT for r in results), results


def test_graceful_shutdown_lets_in_flight_calls_finish(daemons, tmp_path):
    d = daemons(["--workers=2", "--test-publish-delay=2s", "--shutdown-grace=30s"])
    results = []
    threads = _slow_publishes(d, tmp_path, 2, results)
    time.sleep(0.5)  # let both calls reach the workers (they then sleep 2 s)
    d.signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=60)
    assert d.wait(timeout=60) == 0
    # the in-flight calls got their real answer, not a cancellation
    assert [r[1] for r in results] == [grpc.StatusCode.INVALID_ARGUMENT] * 2, results
    assert not os.path.exists(d.socket)
    # new connections are refused after shutdown
    with pytest.raises(CallError):
        vmtest.call(d.socket, "Probe", timeout=2)


def test_grace_period_expiry_cancels_in_flight_calls(daemons, tmp_path):
    d = daemons(["--workers=1", "--test-publish-delay=6s", "--shutdown-grace=1s"])
    results = []
    threads = _slow_publishes(d, tmp_path, 1, results)
    time.sleep(0.5)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=60)
    assert d.wait(timeout=60) == 0
    assert len(results) == 1 and results[0][1] in (grpc.StatusCode.CANCELLED,
                                                   grpc.StatusCode.UNAVAILABLE), results
    assert "cancelling them" in d.log
    assert time.monotonic() - t0 < 30


def test_second_signal_exits_at_once(daemons, tmp_path):
    d = daemons(["--workers=1", "--test-publish-delay=60s", "--shutdown-grace=60s"],
                expect_exit=128 + signal.SIGTERM)
    results = []
    _slow_publishes(d, tmp_path, 1, results)
    time.sleep(0.5)
    d.signal(signal.SIGTERM)
    d.wait_for_log("received SIGTERM")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=20) == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 10
    assert "second signal, exiting at once" in d.log
    assert not os.path.exists(d.socket)


def test_2000_sequential_connections_do_not_leak_fds(daemons):
    d = daemons()
    for _ in range(20):  # warm-up: gRPC's lazily created internals
        d.call("GetPluginInfo")
    before = d.fd_count()
    for i in range(2000):
        method = ("GetPluginInfo", "Probe", "NodeGetInfo", "NodeGetCapabilities")[i % 4]
        d.call(method)  # a new connection each time, as kubelet does
    # closed connections are reaped asynchronously: allow a moment, bounded
    deadline = time.monotonic() + 10
    after = d.fd_count()
    while after > before + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        after = d.fd_count()
    assert after <= before + 2, (before, after)
    assert d.call("Probe").ready.value


def test_abseil_debug_lock_checks_are_off(daemons):
    # Debian 12 builds abseil without NDEBUG: every lock gRPC takes would also
    # run abseil's deadlock detection. The daemon turns it off through
    # abseil's own switch, and says so at debug level.
    d = daemons(["--log-level=debug"])
    assert d.wait_for_count(r"abseil's debug-only deadlock detection turned off", 1) == 1
    for _ in range(50):
        assert d.call("Probe").ready.value


def test_probe_subcommand(daemons, tmp_path):
    d = daemons()
    r = vmtest.run_daemon_cli(["probe", "--endpoint=unix://" + d.socket, "--config=/dev/null"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ready"
    d.stop()
    r = vmtest.run_daemon_cli(["probe", "--endpoint=unix://" + d.socket, "--config=/dev/null",
                               "--probe-timeout=2s"])
    assert r.returncode == 1
    assert "probe" in r.stderr


def test_probe_subcommand_reads_csi_endpoint(daemons):
    d = daemons()
    r = vmtest.run_daemon_cli(["probe", "--config=/dev/null"],
                              env={"CSI_ENDPOINT": "unix://" + d.socket})
    assert r.returncode == 0, r.stderr


def test_planted_secrets_never_reach_the_log(daemons, tmp_path):
    token = "eyJhbGciOiJSUzI1NiJ9.PLANTED-JWT-9f8e7d.sig"
    d = daemons(["--log-level=debug"])
    req = _publish_req(tmp_path, 0)
    req.secrets["csi.storage.k8s.io/serviceAccount.tokens"] = \
        '{"vault":{"token":"%s","expirationTimestamp":"2030-01-01T00:00:00Z"}}' % token
    req.secrets["password"] = "PLANTED-PASSWORD-1234"
    with pytest.raises(CallError) as e:
        d.call("NodePublishVolume", req)
    assert token not in e.value.details and "PLANTED" not in e.value.details
    d.call("Probe")
    d.stop()
    assert "csi-slow-0" in d.log  # the volume id is logged: the logger is not silent
    assert token not in d.log and "PLANTED" not in d.log


# ---------------------------------------------------------------------------
# systemd watchdog (the unit's WatchdogSec=)

def _notify_messages(sock, until, timeout):
    """Datagrams from the daemon's sd_notify until one satisfies `until`."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if until(msg):
            break
    return got


def test_watchdog_pings_only_while_the_server_answers(daemons, tmp_path):
    """With $NOTIFY_SOCKET and $WATCHDOG_USEC (what systemd sets for
    WatchdogSec=) the daemon sends READY=1 and then WATCHDOG=1 every half
    interval, each after its gRPC server answered Probe on its socket and
    the refresh scheduler responded. With its socket gone, kubelet could not
    reach it either: the pings stop and the reason is logged."""
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    interval = 10  # seconds: each check gets a quarter of it, ASan and valgrind included
    try:
        d = daemons(env={"NOTIFY_SOCKET": str(notify), "WATCHDOG_USEC": str(interval * 10**6)})
        assert any("READY=1" in m for m in _notify_messages(
            sock, lambda m: "READY=1" in m, 60))
        for _ in range(2):
            got = _notify_messages(sock, lambda m: "WATCHDOG=1" in m, interval * 2)
            assert got and "WATCHDOG=1" in got[-1], got
        os.unlink(d.socket)
        d.wait_for_log(r"watchdog: the gRPC server does not answer Probe on '%s'" %
                       re.escape(d.socket), timeout=interval * 2)
        # nothing after the failed check: two more checks, no ping
        sock.setblocking(False)
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass
        late = _notify_messages(sock, lambda m: "WATCHDOG=1" in m, interval + 2)
        assert not [m for m in late if "WATCHDOG=1" in m], late
        assert d.stop() == 0
    finally:
        sock.close()


def test_no_watchdog_no_pings(daemons, tmp_path):
    """Without $WATCHDOG_USEC only READY=1 (and STOPPING=1) are sent."""
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    try:
        d = daemons(env={"NOTIFY_SOCKET": str(notify)})
        d.call("Probe")
        assert d.stop() == 0
        got = _notify_messages(sock, lambda m: "STOPPING=1" in m, 10)
        assert any("READY=1" in m for m in got) and any("STOPPING=1" in m for m in got), got
        assert not [m for m in got if "WATCHDOG" in m], got
    finally:
        sock.close()


def test_the_unit_matches_the_daemon_on_watchdog_and_config_errors(daemons, tmp_path):
    """packaging/vaultmountd.service: WatchdogSec= is long enough for the
    daemon's checks, and RestartPreventExitStatus= is the exit status a
    configuration error really has (no restart loop on a bad config)."""
    import configparser
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",),
                                   comment_prefixes=("#", ";"))
    cp.optionxform = str
    cp.read(os.path.join(vmtest.SRC, "packaging", "vaultmountd.service"))
    svc = cp["Service"]
    assert svc["Type"] == "notify" and svc["Restart"] == "on-failure"
    m = re.fullmatch(r"(\d+)s", svc["WatchdogSec"])
    # each check has min(WatchdogSec/4, 5 s): room for a slow Probe on a busy node
    assert m and int(m.group(1)) >= 20, svc["WatchdogSec"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("workers: many\n")
    r = vmtest.run_daemon_cli(["--config=%s" % bad])
    assert svc["RestartPreventExitStatus"].split() == [str(r.returncode)], r.stderr
    assert r.returncode == 2 and "workers: 'many'" in r.stderr
    # a runtime failure is not prevented from restarting
    d = daemons(["--state-dir=/proc/vaultmount-cannot-exist"], start=False, expect_exit=1)
    d.start(wait=False)
    assert d.wait() == 1
