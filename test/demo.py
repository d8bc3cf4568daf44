#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Starts the Vault dev server and vaultmountd, and calls it as kubelet would.

Kubelet's sequence (csi-facts sections 3-4): registration (GetInfo, then
NodeGetInfo), then per mount a new connection each for NodeGetCapabilities
(twice) and NodePublishVolume with the pod's token in `secrets`; at pod
deletion NodeUnpublishVolume. Each step prints what was sent and answered.
The pod's service-account token is an RS256 JWT signed by a key the dev
server trusts, as the apiserver's would be for the CSIDriver's tokenRequests.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import vmtest  # noqa: E402
from vaultenv import VaultDev  # noqa: E402
from vmtest import CallError, csi_pb2  # noqa: E402

OBJECTS = """\
- objectName: username
  secretPath: secret/data/myapp/config
  secretKey: username
- objectName: password
  secretPath: secret/data/myapp/config
  secretKey: password
- objectName: config.json
  secretPath: secret/data/myapp/config
- objectName: db-user
  secretPath: database/creds/readonly
  secretKey: username
- objectName: db-pass
  secretPath: database/creds/readonly
  secretKey: password
"""


def step(title):
    print("\n== " + title)


def main():
    tmp = tempfile.mkdtemp(prefix="vaultmount-demo-")
    pods = os.path.join(tmp, "kubelet", "pods")
    state = os.path.join(tmp, "state")
    os.makedirs(pods)
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", state], check=True)
    vault = VaultDev(tmp, extra_args=["--quiet"])
    print("Vault dev server at %s (CA %s)" % (vault.addr, vault.ca_file))
    d = vmtest.Daemon(tmp, args=["--node-id=demo-node", "--log-level=info",
                                 "--state-dir=" + state, "--target-roots=" + pods]
                      + vault.daemon_args(), name="node")
    d.args = [a for a in d.args if not a.startswith("--state-dir=") or a.endswith(state)]
    d.start()
    print("vaultmountd running: pid %d, socket %s" % (d.proc.pid, d.socket))
    try:
        step("plugin registration: GetPluginInfo, NodeGetInfo")
        info = d.call("GetPluginInfo")
        print("driver %s, version %s" % (info.name, info.vendor_version))
        ni = d.call("NodeGetInfo")
        print("node_id %s, max_volumes_per_node %d" % (ni.node_id, ni.max_volumes_per_node))

        step("liveness: Probe (vaultmountd probe does the same)")
        print("ready:", d.call("Probe").ready.value)

        step("mount: NodeGetCapabilities (kubelet asks twice, one connection each)")
        for _ in range(2):
            caps = d.call("NodeGetCapabilities")
        print("capabilities:", [c.rpc.type for c in caps.capabilities] or "none")

        pod_uid = str(uuid.uuid4())
        volume = "vault-secrets"
        volume_id = "csi-" + hashlib.sha256((pod_uid + volume).encode()).hexdigest()
        target = os.path.join(pods, pod_uid, "volumes", "kubernetes.io~csi", volume, "mount")
        os.makedirs(os.path.dirname(target), mode=0o750)
        jwt = vault.mint_jwt(namespace="default", sa="default", pod="demo-pod", pod_uid=pod_uid)
        token = {"vault": {"token": jwt, "expirationTimestamp": "2099-01-01T00:00:00Z"}}
        req = csi_pb2.NodePublishVolumeRequest(
            volume_id=volume_id, target_path=target, readonly=True,
            volume_capability=vmtest.mount_capability(),
            volume_context={
                "roleName": "demo",
                "objects": OBJECTS,
                "csi.storage.k8s.io/pod.name": "demo-pod",
                "csi.storage.k8s.io/pod.namespace": "default",
                "csi.storage.k8s.io/pod.uid": pod_uid,
                "csi.storage.k8s.io/serviceAccount.name": "default",
                "csi.storage.k8s.io/ephemeral": "true",
            },
            secrets={"csi.storage.k8s.io/serviceAccount.tokens": json.dumps(token)})
        step("mount: NodePublishVolume (token in secrets, KEP-5538)")
        print("volume_id", volume_id)
        print("target   ", target)
        print("objects:\n" + OBJECTS)
        d.call("NodePublishVolume", req, timeout=120)
        print("published. What the pod sees (read-only; values shown here for the demo only):")
        for name in sorted(n for n in os.listdir(target) if not n.startswith(".")):
            st = os.stat(os.path.join(target, name))
            with open(os.path.join(target, name)) as f:
                print("  %-12s mode %o  %s" % (name, st.st_mode & 0o777, f.read()))
        try:
            with open(os.path.join(target, "new-file"), "w") as f:
                f.write("x")
        except OSError as e:
            print("  writing into the volume: %s (as it should be)" % e.strerror)
        print("Vault tokens alive: %d (the pod's own); leases alive: %d" % (
            len(vault.live_tokens()),
            len([l for l in vault.leases() if not l.get("revoked") and not l.get("expired")])))

        step("republish (kubelet's requiresRepublish): OK at once, nothing remounted")
        d.call("NodePublishVolume", req, timeout=120)
        print("OK")

        step("pod deletion: NodeUnpublishVolume")
        d.call("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=volume_id, target_path=target), timeout=120)
        print("unpublished; target exists: %s; Vault tokens alive: %d; leases alive: %d" % (
            os.path.exists(target), len(vault.live_tokens()),
            len([l for l in vault.leases() if not l.get("revoked") and not l.get("expired")])))
    finally:
        step("SIGTERM: graceful shutdown")
        rc = d.stop()
        print("exit status", rc)
        print("\n-- daemon log (stderr, logfmt) --")
        print(d.log, end="")
        assert jwt not in d.log
        vault.stop()
        subprocess.run(["umount", "-l", state], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
