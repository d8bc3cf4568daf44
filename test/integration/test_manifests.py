# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes manifests (manifests/), rendered the way an operator applies them.

Every kustomization is rendered with `kubectl kustomize`, by each kubectl at
hand: the one on PATH and Debian's kubernetes-client (kubectl 1.20 with
kustomize 2.0, which knows only the older keys `bases:` and
`patchesStrategicMerge:`). Both renderings must be the same objects. The
checks then read the rendered objects, and compare them with the real
daemon: its --help (every flag the DaemonSet passes exists), its
--check-config on the shipped node config with the DaemonSet's flags (every
host path it uses is mounted from the same host path), and its
NodeGetCapabilities (the fsGroupPolicy matches VOLUME_MOUNT_GROUP).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

import vmtest
from vmtest import csi_pb2

MANIFESTS = os.path.join(vmtest.SRC, "manifests")
KUSTOMIZATIONS = [".", "token-in-secrets", "node-driver-registrar", "example"]
DRIVER = "csi.vaultmount.io"
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"}
# Measured (README "Benchmarks"): RSS with 110 volumes published.
MEASURED_RSS_MIB = 25.7
MIB = 1024 * 1024


# ---------------------------------------------------------------------------
# kubectl binaries

def _debian_kubectl():
    """Debian's kubectl: installed (kubernetes-client), else unpacked from the
    package fetched with apt-get into a cache (the package cannot be installed
    next to an image's own /usr/bin/kubectl: dpkg refuses the file clash)."""
    q = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "kubernetes-client"],
                       capture_output=True, text=True)
    if q.returncode == 0 and q.stdout.startswith("install ok installed"):
        return "/usr/bin/kubectl"
    cache = os.path.join(tempfile.gettempdir(), "vaultmount-debian-kubectl")
    exe = os.path.join(cache, "usr", "bin", "kubectl")
    if os.access(exe, os.X_OK):
        return exe
    os.makedirs(cache, exist_ok=True)
    for attempt in range(2):
        r = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=cache,
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            break
        if attempt == 0:  # stale package lists: the version moved on
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
    else:
        print("test_manifests: could not fetch Debian's kubernetes-client: " + r.stderr)
        return None
    debs = [f for f in os.listdir(cache) if f.startswith("kubernetes-client_")]
    subprocess.run(["dpkg-deb", "-x", os.path.join(cache, sorted(debs)[-1]), cache], check=True)
    return exe if os.access(exe, os.X_OK) else None


def _kubectls():
    found = []
    path = shutil.which("kubectl")
    if path:
        found.append(os.path.realpath(path))
    deb = _debian_kubectl()
    if deb and os.path.realpath(deb) not in found:
        found.append(os.path.realpath(deb))
    return found


KUBECTLS = _kubectls()


def _version(kubectl):
    r = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True)
    return r.stdout.strip().splitlines()[0] if r.stdout else "?"


def render_with(kubectl, kdir):
    r = subprocess.run([kubectl, "kustomize", os.path.join(MANIFESTS, kdir)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "%s kustomize %s failed:\n%s" % (kubectl, kdir, r.stderr)
    return [o for o in yaml.safe_load_all(r.stdout) if o]


_cache = {}


def render(kdir):
    """The objects of a kustomization; every kubectl must render the same ones."""
    if kdir not in _cache:
        assert KUBECTLS, "no kubectl found (PATH, or Debian's kubernetes-client)"
        results = {k: render_with(k, kdir) for k in KUBECTLS}
        canon = {k: sorted(json.dumps(o, sort_keys=True) for o in objs)
                 for k, objs in results.items()}
        first = KUBECTLS[0]
        for k in KUBECTLS[1:]:
            assert canon[k] == canon[first], "%s and %s render %s differently" % (
                _version(first), _version(k), kdir)
        _cache[kdir] = results[first]
    return _cache[kdir]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or
                                                      o["metadata"]["name"] == name)]
    assert len(found) == 1, "%d %s objects" % (len(found), kind)
    return found[0]


def container(ds, name="vaultmountd"):
    return [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == name][0]


def parse_quantity(q):
    units = {"Ki": 1024, "Mi": MIB, "Gi": 1024 * MIB}
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi)?", str(q))
    assert m, q
    return float(m.group(1)) * units.get(m.group(2), 1)


def daemon_help():
    r = vmtest.run_daemon_cli(["--help"])
    assert r.returncode == 0
    return r.stdout


def effective_config(ds, configmap, tmp_path, args=None):
    """`vaultmountd --check-config` with the DaemonSet's flags and env and the
    shipped node config: what the daemon in the pod will use."""
    c = container(ds)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(configmap["data"]["config.yaml"])
    argv = []
    for a in (args if args is not None else c["args"]):
        argv.append("--config=%s" % cfg if a.startswith("--config=") else a)
    env = {"NODE_NAME": "node-from-downward-api"}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    r = vmtest.run_daemon_cli(argv + ["--check-config"], env=env)
    assert r.returncode == 0, r.stderr
    values = {}
    for line in r.stdout.splitlines():
        m = re.match(r'^([a-z0-9-]+): "(.*)"  # (\w+)', line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


def socket_path(endpoint):
    return endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint


def host_mount_for(ds, path, cname="vaultmountd"):
    """The volumeMount covering `path` in the container, and its volume."""
    spec = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    best = None
    for m in container(ds, cname).get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0]["mountPath"]):
                best = (m, volumes[m["name"]])
    assert best, "%s is not mounted into container %s" % (path, cname)
    return best


# ---------------------------------------------------------------------------

def test_every_kubectl_renders_every_kustomization():
    print("kubectl used: " + "; ".join("%s (%s)" % (k, _version(k)) for k in KUBECTLS))
    if os.environ.get("CI") == "true":
        # the old kustomize is the point of the older keys: CI must check it
        assert any("v1.20" in _version(k) for k in KUBECTLS), KUBECTLS
    for kdir in KUSTOMIZATIONS:
        assert render(kdir)


@pytest.mark.parametrize("kdir", KUSTOMIZATIONS)
def test_no_rbac_objects_anywhere(kdir):
    objs = render(kdir)
    kinds = {o["kind"] for o in objs}
    if kdir == "example":
        # the application's own identity, which Vault's role is bound to
        assert kinds == {"Namespace", "ServiceAccount", "Pod"}
        return
    assert not kinds & RBAC_KINDS, kinds
    assert all(o["apiVersion"] != "rbac.authorization.k8s.io/v1" for o in objs)
    ds = one(objs, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec and "serviceAccount" not in spec


def test_the_default_deployment_is_step_one():
    objs = render(".")
    assert sorted(o["kind"] for o in objs) == ["CSIDriver", "ConfigMap", "DaemonSet",
                                               "Namespace"]
    ns = one(objs, "Namespace")["metadata"]
    assert ns["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for o in objs:
        if o["kind"] not in ("Namespace", "CSIDriver"):
            assert o["metadata"]["namespace"] == ns["name"]


def test_csidriver_fields(daemons):
    drv = one(render("."), "CSIDriver", DRIVER)
    assert drv["apiVersion"] == "storage.k8s.io/v1"
    assert drv["spec"] == {
        "attachRequired": False,
        "podInfoOnMount": True,
        "requiresRepublish": True,
        "volumeLifecycleModes": ["Ephemeral"],
        "tokenRequests": [{"audience": "vault", "expirationSeconds": 3600}],
        "fsGroupPolicy": "File",
    }
    # File goes with VOLUME_MOUNT_GROUP, which the real daemon advertises
    d = daemons(["--registration-dir="])
    caps = d.call("NodeGetCapabilities").capabilities
    assert [c.rpc.type for c in caps] == [csi_pb2.NodeServiceCapability.RPC.VOLUME_MOUNT_GROUP]
    # the token audience is the one the node config's Vault server logs in with
    cm = one(render("."), "ConfigMap")
    servers = yaml.safe_load(cm["data"]["config.yaml"])["vault-servers"]
    assert {s.get("audience", "vault") for s in servers.values()} == {"vault"}


def test_token_in_secrets_overlay_changes_only_that_field():
    base, step2 = render("."), render("token-in-secrets")
    drv = one(step2, "CSIDriver", DRIVER)
    assert drv["spec"]["serviceAccountTokenInSecrets"] is True
    expected = json.loads(json.dumps(one(base, "CSIDriver", DRIVER)))
    expected["spec"]["serviceAccountTokenInSecrets"] = True
    assert drv == expected
    # everything else is the same objects as step 1
    rest = lambda objs: sorted(json.dumps(o, sort_keys=True) for o in objs  # noqa: E731
                               if o["kind"] != "CSIDriver")
    assert rest(base) == rest(step2)


def test_daemonset_shape():
    ds = one(render("."), "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    c = container(ds)
    assert [x["name"] for x in spec["containers"]] == ["vaultmountd"]  # no registrar sidecar
    assert c["securityContext"]["privileged"] is True
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert terms and all({"key": "node-role.kubernetes.io/control-plane",
                          "operator": "DoesNotExist"} in t["matchExpressions"] for t in terms)
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    probe = c["livenessProbe"]["exec"]["command"]
    assert probe[0] == c["command"][0] and probe[1] == "probe"
    # kubelet kills the exec probe after timeoutSeconds: the probe's own deadline is shorter
    timeout = [a for a in probe if a.startswith("--probe-timeout=")]
    assert timeout and int(timeout[0].split("=")[1].rstrip("s")) < \
        c["livenessProbe"]["timeoutSeconds"]
    # the config comes from the ConfigMap
    cm = one(render("."), "ConfigMap")
    m, vol = host_mount_for(ds, "/etc/vaultmount/config.yaml")
    assert vol["configMap"]["name"] == cm["metadata"]["name"] and m.get("readOnly") is True
    # in-flight calls get shutdown-grace (20 s) before kubelet's SIGKILL
    # and about 2 s after it to abort Vault calls and roll back (test_shutdown_grace)
    assert spec["terminationGracePeriodSeconds"] > 20 + 2


def test_daemonset_flags_exist_in_the_real_help():
    helptext = daemon_help()
    known = set(re.findall(r"^\s+(--[a-z0-9-]+)", helptext, re.M))
    assert "probe [OPTIONS]" in helptext
    for kdir in (".", "node-driver-registrar"):
        ds = one(render(kdir), "DaemonSet")
        c = container(ds)
        flags = list(c["args"]) + c["livenessProbe"]["exec"]["command"][2:]
        assert flags
        for f in flags:
            assert f.startswith("--") and "=" in f, f
            assert f.split("=")[0] in known, "%s is not in vaultmountd --help" % f
        for e in c["env"]:
            if e["name"].startswith("VAULTMOUNT_"):
                assert "--" + e["name"][11:].lower().replace("_", "-") in known


def test_every_host_path_the_daemon_uses_is_mounted(tmp_path):
    objs = render(".")
    ds, cm = one(objs, "DaemonSet"), one(objs, "ConfigMap")
    cfg = effective_config(ds, cm, tmp_path)
    sock = socket_path(cfg["endpoint"])
    used = {
        os.path.dirname(sock): None,
        cfg["state-dir"]: "Bidirectional",
        cfg["registration-dir"]: None,
    }
    for root in cfg["target-roots"].split(","):
        used[root] = "Bidirectional"
    assert cfg["registration-dir"] == "/var/lib/kubelet/plugins_registry"
    assert cfg["state-dir"].startswith("/run/"), "the state dir must be a tmpfs: host /run"
    for path, propagation in used.items():
        m, vol = host_mount_for(ds, path)
        assert "hostPath" in vol, "%s comes from %s, not the host" % (path, vol)
        # kubelet and the daemon exchange host paths: same path inside and out
        assert vol["hostPath"]["path"] == m["mountPath"], (path, m, vol)
        if propagation:
            assert m.get("mountPropagation") == propagation, (path, m)
    # what kubelet is told to dial is the CSI socket's host path
    assert cfg["kubelet-endpoint"] == sock
    # the probe reaches the same socket: it reads the same env and config
    probe_cfg = effective_config(ds, cm, tmp_path,
                                 args=container(ds)["livenessProbe"]["exec"]["command"][2:])
    assert probe_cfg["endpoint"] == cfg["endpoint"]
    # the node id is the downward-API node name
    assert cfg["node-id"] == "node-from-downward-api"


def test_memory_limit_holds_rss_and_every_tmpfs(tmp_path):
    objs = render(".")
    ds, cm = one(objs, "DaemonSet"), one(objs, "ConfigMap")
    cfg = effective_config(ds, cm, tmp_path)
    res = container(ds)["resources"]
    max_volumes = int(cfg["max-volumes-per-node"])
    tmpfs = int(cfg["tmpfs-size"])
    assert max_volumes > 0, "the sizing needs a bound on volumes per node"
    need = MEASURED_RSS_MIB * MIB + max_volumes * tmpfs
    limit = parse_quantity(res["limits"]["memory"])
    assert limit >= need, (limit / MIB, need / MIB)
    assert limit <= 2 * need, "limit far above the computed need"
    assert parse_quantity(res["requests"]["memory"]) >= MEASURED_RSS_MIB * MIB
    assert "cpu" in res["requests"] and "cpu" not in res.get("limits", {})


def test_idle_daemon_stays_below_the_measured_rss(daemons):
    d = daemons()
    d.call("NodeGetInfo")
    with open("/proc/%d/status" % d.proc.pid) as f:
        rss_kib = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
    if "asan" not in vmtest.DAEMON:
        assert rss_kib * 1024 < MEASURED_RSS_MIB * MIB, rss_kib


def test_node_driver_registrar_variant(tmp_path):
    objs = render("node-driver-registrar")
    ds, cm = one(objs, "DaemonSet"), one(objs, "ConfigMap")
    names = [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]]
    assert names == ["vaultmountd", "node-driver-registrar"]
    cfg = effective_config(ds, cm, tmp_path)
    assert cfg["registration-dir"] == "", "self-registration must be off with the sidecar"
    reg = container(ds, "node-driver-registrar")
    args = dict(a.split("=", 1) for a in reg["args"])
    sock = socket_path(cfg["endpoint"])
    assert args["--kubelet-registration-path"] == sock
    # the sidecar reaches the CSI socket through the same host directory
    m, vol = host_mount_for(ds, args["--csi-address"], "node-driver-registrar")
    assert vol["hostPath"]["path"] == os.path.dirname(sock)
    m, vol = host_mount_for(ds, "/registration", "node-driver-registrar")
    assert vol["hostPath"]["path"] == "/var/lib/kubelet/plugins_registry"
    # the rest of the daemon's flags are those of the base
    base = container(one(render("."), "DaemonSet"))["args"]
    assert [a for a in base if not a.startswith(("--registration-dir", "--kubelet-endpoint"))] \
        == [a for a in container(ds)["args"] if not a.startswith("--registration-dir")]


def test_example_pod():
    objs = render("example")
    pod, sa, ns = one(objs, "Pod"), one(objs, "ServiceAccount"), one(objs, "Namespace")
    assert pod["metadata"]["namespace"] == sa["metadata"]["namespace"] == ns["metadata"]["name"]
    assert pod["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    vols = [v for v in pod["spec"]["volumes"] if "csi" in v]
    assert len(vols) == 1
    csi = vols[0]["csi"]
    assert csi["driver"] == DRIVER and csi["readOnly"] is True
    attrs = csi["volumeAttributes"]
    assert attrs["roleName"]
    objects = yaml.safe_load(attrs["objects"])
    assert objects and all({"objectName", "secretPath"} <= set(o) for o in objects)
    mounts = [m for c in pod["spec"]["containers"] for m in c["volumeMounts"]
              if m["name"] == vols[0]["name"]]
    assert mounts and all(m["readOnly"] for m in mounts)
    assert pod["spec"]["securityContext"]["fsGroup"]
