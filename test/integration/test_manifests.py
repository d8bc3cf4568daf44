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

Placement and rollout: the driver runs on every Linux node (no control-plane
exclusion, a catch-all toleration; manifests/workers-only/ narrows it), its
image is set once, fully qualified, through kustomize `images:`, and its
ConfigMap comes from a configMapGenerator, so a config change rolls the
DaemonSet.
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
KUSTOMIZATIONS = [".", "token-in-secrets", "node-driver-registrar", "workers-only", "example"]
DRIVER_KUSTOMIZATIONS = [k for k in KUSTOMIZATIONS if k != "example"]
DRIVER = "csi.vaultmount.io"
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"}
# Measured (docs/development.md, "Benchmarks"): RSS with 110 volumes published.
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


def render_with(kubectl, kdir, root=MANIFESTS):
    r = subprocess.run([kubectl, "kustomize", os.path.join(root, kdir)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "%s kustomize %s failed:\n%s" % (kubectl, kdir, r.stderr)
    return [o for o in yaml.safe_load_all(r.stdout) if o]


GENERATED = re.compile(r"\b(vaultmount-config)-[a-z0-9]{10}\b")


def _canonical(objs):
    """The objects as sorted JSON, with the generated ConfigMap's hash suffix
    replaced: kustomize 2.0 and 5.x hash the same content differently. Each
    rendering must name one suffixed ConfigMap and refer to exactly it."""
    text = [json.dumps(o, sort_keys=True) for o in objs]
    suffixed = set(m.group(0) for s in text for m in GENERATED.finditer(s))
    assert len(suffixed) <= 1, suffixed
    return sorted(GENERATED.sub(r"\1-HASH", s) for s in text)


_cache = {}


def render(kdir):
    """The objects of a kustomization; every kubectl must render the same ones."""
    if kdir not in _cache:
        assert KUBECTLS, "no kubectl found (PATH, or Debian's kubernetes-client)"
        results = {k: render_with(k, kdir) for k in KUBECTLS}
        canon = {k: _canonical(objs) for k, objs in results.items()}
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
    # every Linux node: no affinity, every taint tolerated
    assert "affinity" not in spec
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert {"operator": "Exists"} in spec["tolerations"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    for kind in ("livenessProbe", "readinessProbe"):
        probe = c[kind]["exec"]["command"]
        assert probe[0] == c["command"][0] and probe[1] == "probe"
        # kubelet kills the exec probe after timeoutSeconds: the probe's own deadline is shorter
        timeout = [a for a in probe if a.startswith("--probe-timeout=")]
        assert timeout and int(timeout[0].split("=")[1].rstrip("s")) < c[kind]["timeoutSeconds"]
    # readiness adds what liveness cannot: a rollout waits for a serving socket
    # sooner than liveness would act on a start that never serves
    ready, live = c["readinessProbe"], c["livenessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] < \
        live.get("initialDelaySeconds", 0) + live["periodSeconds"] * live["failureThreshold"]
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
        flags = list(c["args"]) + c["livenessProbe"]["exec"]["command"][2:] + \
            c["readinessProbe"]["exec"]["command"][2:]
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


# ---------------------------------------------------------------------------
# placement, image, config rollout

def _meson_version():
    m = re.search(r"version:\s*'([^']+)'", open(os.path.join(vmtest.SRC, "meson.build")).read())
    return m.group(1)


def _fully_qualified(ref):
    """registry-host[:port]/path:tag or ...@sha256:digest."""
    name, _, digest = ref.partition("@")
    host, slash, path = name.partition("/")
    if not slash or not ("." in host or ":" in host or host == "localhost"):
        return False
    if digest:
        return re.fullmatch(r"sha256:[0-9a-f]{64}", digest) is not None
    return ":" in path.rsplit("/", 1)[-1]


@pytest.mark.parametrize("kdir", DRIVER_KUSTOMIZATIONS)
def test_every_image_is_fully_qualified_and_the_driver_image_is_one(kdir):
    ds = one(render(kdir), "DaemonSet")
    images = {c["name"]: c["image"] for c in ds["spec"]["template"]["spec"]["containers"]}
    for name, ref in images.items():
        assert _fully_qualified(ref), "%s: image '%s' is not fully qualified" % (name, ref)
    base = container(one(render("."), "DaemonSet"))["image"]
    assert images["vaultmountd"] == base
    assert base.endswith(":" + _meson_version()), base


def test_the_driver_image_is_set_in_one_place():
    """The DaemonSet names the image only; base/kustomization.yaml's images:
    sets it, and no other file of manifests/ does."""
    raw = yaml.safe_load(open(os.path.join(MANIFESTS, "base", "daemonset.yaml")))
    name = raw["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "/" not in name and ":" not in name, name
    setters = []
    for dirpath, _, files in os.walk(MANIFESTS):
        for f in files:
            if f == "kustomization.yaml":
                k = yaml.safe_load(open(os.path.join(dirpath, f)))
                if any(i["name"] == name for i in k.get("images", [])):
                    setters.append(os.path.relpath(dirpath, MANIFESTS))
    assert setters == ["base"], setters


def test_every_linux_node_by_default_and_workers_only_narrows(tmp_path):
    for kdir in (".", "token-in-secrets", "node-driver-registrar"):
        spec = one(render(kdir), "DaemonSet")["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}, kdir
        # a catch-all toleration: control-plane and tainted pools included
        assert {"operator": "Exists"} in spec["tolerations"], kdir
        assert "affinity" not in spec, kdir
    narrow = one(render("workers-only"), "DaemonSet")
    spec = narrow["spec"]["template"]["spec"]
    assert "tolerations" not in spec
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert terms and all({"key": "node-role.kubernetes.io/control-plane",
                          "operator": "DoesNotExist"} in t["matchExpressions"] for t in terms)
    # otherwise the same DaemonSet
    base = json.loads(json.dumps(one(render("."), "DaemonSet")))
    del base["spec"]["template"]["spec"]["tolerations"]
    del narrow["spec"]["template"]["spec"]["affinity"]
    assert narrow == base


def _config_volume(objs):
    ds = one(objs, "DaemonSet")
    vols = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    return vols["config"]["configMap"]["name"]


@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_a_config_change_rolls_the_daemonset(kubectl, tmp_path):
    """The ConfigMap's name carries a hash of config.yaml and the DaemonSet
    refers to it: a changed config is a changed pod template, which the
    DaemonSet controller rolls out; an unchanged one is not."""
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    before = render_with(kubectl, ".", str(copy))
    cm = one(before, "ConfigMap")
    assert GENERATED.fullmatch(cm["metadata"]["name"]), cm["metadata"]["name"]
    assert _config_volume(before) == cm["metadata"]["name"]
    assert render_with(kubectl, ".", str(copy)) == before  # stable for the same content
    cfg = copy / "base" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("log-level: info", "log-level: debug"))
    after = render_with(kubectl, ".", str(copy))
    assert "log-level: debug" in one(after, "ConfigMap")["data"]["config.yaml"]
    assert _config_volume(after) == one(after, "ConfigMap")["metadata"]["name"]
    assert _config_volume(after) != _config_volume(before)


@pytest.mark.parametrize("kdir", DRIVER_KUSTOMIZATIONS)
def test_every_driver_kustomization_is_complete(kdir):
    """Each directory an operator may apply instead of manifests/ brings the
    whole driver: the privileged namespace, the CSIDriver, a generated
    ConfigMap the DaemonSet mounts, and a DaemonSet on Linux nodes with both
    probes."""
    objs = render(kdir)
    ns = one(objs, "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    one(objs, "CSIDriver", DRIVER)
    cm = one(objs, "ConfigMap")
    assert GENERATED.fullmatch(cm["metadata"]["name"]), cm["metadata"]["name"]
    assert _config_volume(objs) == cm["metadata"]["name"]
    spec = one(objs, "DaemonSet")["spec"]["template"]["spec"]
    assert spec["nodeSelector"]["kubernetes.io/os"] == "linux"
    c = container(one(objs, "DaemonSet"))
    assert "livenessProbe" in c and "readinessProbe" in c
