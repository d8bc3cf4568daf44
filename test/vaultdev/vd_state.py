# SPDX-License-Identifier: Apache-2.0
"""Server state: configuration, namespaces, mounts, policies (ACL), tokens,
leases, KV storage, counters, faults and the adjustable clock.

Everything here is guarded by State.lock (one plain Lock); callers hold it
while they touch the state. Nothing here logs, and no token string ever
leaves this module except in a login/admin response body."""

import collections
import functools
import json
import os
import re
import threading
import time
import uuid

import vd_jwt
from vd_util import (as_bool, as_int, as_list, go_duration, new_uuid, parse_duration,
                     rand_b62)

SYSTEM_DEFAULT_TTL = 768 * 3600     # Vault's system default/max lease TTL (768h)
CAPS = ("create", "read", "update", "delete", "list", "patch", "sudo", "deny")

# Vault's built-in "default" policy, restricted to the paths this server serves
# (cubbyhole, wrapping and identity are not implemented here).
DEFAULT_POLICY = {
    "auth/token/lookup-self": {"read"},
    "auth/token/renew-self": {"update"},
    "auth/token/revoke-self": {"update"},
    "sys/capabilities-self": {"update"},
    "sys/internal/ui/resultant-acl": {"read"},
    "sys/renew": {"update"},
    "sys/leases/renew": {"update"},
    "sys/leases/lookup": {"update"},
    "sys/wrapping/wrap": {"update"},
    "sys/wrapping/lookup": {"update"},
    "sys/wrapping/unwrap": {"update"},
    "sys/tools/hash": {"update"},
    "sys/tools/hash/*": {"update"},
    "cubbyhole/*": {"create", "read", "update", "delete", "list"},
}

MAX_TOKENS_KEPT = 20000     # revoked/expired records kept for the admin tables
MAX_LEASES_KEPT = 20000
MAX_COUNTER_KEYS = 10000
REQUEST_LOG_LEN = 2000


class ConfigError(Exception):
    pass


def _pem_value(v):
    """A PEM string, or "@/path" to read it from a file."""
    if isinstance(v, str) and v.startswith("@"):
        with open(v[1:], "r", encoding="ascii") as f:
            return f.read()
    return v


def _split_pems(v):
    out = []
    for item in ([v] if isinstance(v, str) else (v or [])):
        item = _pem_value(item)
        # A file may hold several PEM blocks.
        blocks = re.findall(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", item, re.S)
        out.extend(blocks or [item])
    return out


def _load_keys(pems):
    keys = []
    for p in pems:
        try:
            keys.append(vd_jwt.load_public_key(p))
        except Exception as e:  # noqa: BLE001 - any parse failure is a config error
            raise ConfigError("could not parse public key: %s" % e.__class__.__name__)
    return keys


# --------------------------------------------------------------------------- policies

class Policy:
    """One named policy: an ordered list of (pattern, capabilities)."""

    def __init__(self, name, spec):
        self.name = name
        self.raw = spec
        self.rules = []
        if isinstance(spec, str):
            self._from_hcl(spec)
        elif isinstance(spec, dict) and "path" in spec:
            for pat, body in spec["path"].items():
                self._add(pat, (body or {}).get("capabilities", []))
        elif isinstance(spec, dict):
            for pat, caps in spec.items():
                self._add(pat, caps.get("capabilities", []) if isinstance(caps, dict) else caps)
        elif isinstance(spec, list):
            for r in spec:
                self._add(r["path"], r.get("capabilities", []))
        else:
            raise ConfigError("policy %r: unsupported format" % name)

    def _from_hcl(self, text):
        found = False
        for m in re.finditer(r'path\s+"([^"]*)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}',
                             text):
            caps = re.findall(r'"([^"]*)"', m.group(2))
            self._add(m.group(1), caps)
            found = True
        if not found and text.strip():
            raise ConfigError("policy %r: no path stanza understood" % self.name)

    def _add(self, pat, caps):
        if isinstance(caps, str):
            caps = [caps]
        caps = set(c.lower() for c in caps)
        bad = caps - set(CAPS)
        if bad:
            raise ConfigError("policy %r: unknown capability %s" % (self.name, sorted(bad)[0]))
        pat = pat.lstrip("/")
        if "*" in pat[:-1]:
            raise ConfigError("policy %r: '*' is only allowed at the end of a path" % self.name)
        self.rules.append((pat, caps))


@functools.lru_cache(maxsize=4096)
def _pattern_regex(pat):
    glob = pat.endswith("*")
    body = pat[:-1] if glob else pat
    segs = body.split("/")
    rx = "/".join("[^/]+" if s == "+" else re.escape(s) for s in segs)
    return re.compile("^" + rx + (".*" if glob else "") + "$")


def _priority(pat):
    """Vault's priority ordering for non-exact matches: a later first wildcard
    wins; not ending in '*' wins; fewer '+' segments win; longer wins; then
    lexicographically larger wins."""
    idx = [i for i, ch in enumerate(pat) if ch == "*"]
    segs = pat.split("/")
    pos = 0
    for s in segs:
        if s == "+":
            idx.append(pos)
            break
        pos += len(s) + 1
    first = min(idx) if idx else len(pat)
    return (first, not pat.endswith("*"), -segs.count("+"), len(pat), pat)


class ACL:
    def __init__(self, policies):
        self.root = any(p.name == "root" for p in policies)
        merged = {}
        for p in policies:
            for pat, caps in p.rules:
                cur = merged.setdefault(pat, set())
                cur |= caps
        for pat, caps in merged.items():
            if "deny" in caps:
                merged[pat] = {"deny"}
        self.rules = merged
        self._rx = {pat: _pattern_regex(pat) for pat in merged}

    def capabilities(self, path):
        if self.root:
            return {"root"}
        if path in self.rules and "*" not in path and "+" not in path.split("/"):
            return self.rules[path]
        best = None
        for pat, rx in self._rx.items():
            if rx.match(path) and (best is None or _priority(pat) > _priority(best)):
                best = pat
        return self.rules[best] if best is not None else set()

    def allowed(self, path, cap):
        caps = self.capabilities(path)
        if "root" in caps:
            return True
        return "deny" not in caps and cap in caps

    def any_access_under(self, prefix):
        """Vault's hasMountAccess, approximated: any non-deny rule that can
        match something below prefix."""
        if self.root:
            return True
        for pat, caps in self.rules.items():
            if not caps or "deny" in caps:
                continue
            stem = pat[:-1] if pat.endswith("*") else pat
            stem = stem.split("+")[0]
            if stem.startswith(prefix) or (pat.endswith("*") or "+" in pat) and \
                    prefix.startswith(stem):
                return True
        return False


# --------------------------------------------------------------------------- roles

def _token_fields(d, mount_name):
    """The tokenutil fields shared by auth roles, with Vault's legacy aliases."""
    def dur(key, legacy=None):
        v = d.get(key)
        if v is None and legacy:
            v = d.get(legacy)
        try:
            return parse_duration(v, 0)
        except ValueError:
            raise ConfigError("%s: invalid %s" % (mount_name, key))
    pol = d.get("token_policies")
    if pol is None:
        pol = d.get("policies")
    ttype = d.get("token_type", "default") or "default"
    if ttype not in ("default", "service", "default-service"):
        # Batch tokens are not implemented (see README).
        raise ConfigError("%s: token_type %r not supported by vaultdev" % (mount_name, ttype))
    return {
        "token_ttl": dur("token_ttl", "ttl"),
        "token_max_ttl": dur("token_max_ttl", "max_ttl"),
        "token_explicit_max_ttl": dur("token_explicit_max_ttl"),
        "token_period": dur("token_period", "period"),
        "token_policies": sorted(set(as_list(pol))),
        "token_no_default_policy": as_bool(d.get("token_no_default_policy"), False),
        "token_num_uses": as_int(d.get("token_num_uses"), 0),
        "token_bound_cidrs": as_list(d.get("token_bound_cidrs") or d.get("bound_cidrs")),
        "token_type": "service",
    }


def norm_k8s_role(name, d):
    r = _token_fields(d, "role %s" % name)
    names = as_list(d.get("bound_service_account_names"))
    nss = as_list(d.get("bound_service_account_namespaces"))
    sel = d.get("bound_service_account_namespace_selector", "") or ""
    if not names:
        raise ConfigError('"bound_service_account_names" can not be empty')
    if not nss and not sel:
        raise ConfigError('"bound_service_account_namespaces" can not be empty if '
                          '"bound_service_account_namespace_selector" is not set')
    r.update({
        "bound_service_account_names": names,
        "bound_service_account_namespaces": nss,
        "bound_service_account_namespace_selector": sel,
        "audience": d.get("audience", "") or "",
        "alias_name_source": d.get("alias_name_source", "serviceaccount_uid"),
    })
    return r


def _leeway(v, default):
    n = parse_duration(v, 0)
    if n == 0:
        return default
    return 0 if n < 0 else n


def norm_jwt_role(name, d):
    r = _token_fields(d, "role %s" % name)
    rtype = d.get("role_type", "oidc") or "oidc"
    if rtype not in ("oidc", "jwt"):
        raise ConfigError("invalid 'role_type': %s" % rtype)
    bound_claims = d.get("bound_claims") or {}
    if not isinstance(bound_claims, dict):
        raise ConfigError("bound_claims must be a map")
    r.update({
        "role_type": rtype,
        "bound_audiences": as_list(d.get("bound_audiences")),
        "user_claim": d.get("user_claim", "") or "",
        "bound_subject": d.get("bound_subject", "") or "",
        "bound_claims": bound_claims,
        "bound_claims_type": d.get("bound_claims_type", "string") or "string",
        "claim_mappings": d.get("claim_mappings") or {},
        "groups_claim": d.get("groups_claim", "") or "",
        "clock_skew_leeway": _leeway(d.get("clock_skew_leeway"), 60),
        "expiration_leeway": _leeway(d.get("expiration_leeway"), 150),
        "not_before_leeway": _leeway(d.get("not_before_leeway"), 150),
    })
    if not r["user_claim"]:
        raise ConfigError("a user claim must be defined on the role")
    if r["bound_claims_type"] not in ("string", "glob"):
        raise ConfigError("invalid 'bound_claims_type': %s" % r["bound_claims_type"])
    if rtype == "jwt" and not (r["bound_audiences"] or r["bound_subject"] or
                               r["bound_claims"] or r["token_bound_cidrs"]):
        raise ConfigError("must have at least one bound constraint when creating/updating "
                          "a role")
    return r


def norm_db_role(name, d):
    try:
        return {
            "default_ttl": parse_duration(d.get("default_ttl"), 0),
            "max_ttl": parse_duration(d.get("max_ttl"), 0),
            "db_name": d.get("db_name", "vaultdev"),
        }
    except ValueError as e:
        raise ConfigError("role %s: %s" % (name, e))


def norm_pki_role(name, d):
    try:
        kt = d.get("key_type", "rsa")
        if kt not in ("rsa", "ec"):
            raise ConfigError("role %s: key_type must be rsa or ec" % name)
        bits = as_int(d.get("key_bits"), 0) or (2048 if kt == "rsa" else 256)
        return {
            "ttl": parse_duration(d.get("ttl"), 0),
            "max_ttl": parse_duration(d.get("max_ttl"), 0),
            "allowed_domains": as_list(d.get("allowed_domains")),
            "allow_subdomains": as_bool(d.get("allow_subdomains"), False),
            "allow_bare_domains": as_bool(d.get("allow_bare_domains"), False),
            "allow_glob_domains": as_bool(d.get("allow_glob_domains"), False),
            "allow_any_name": as_bool(d.get("allow_any_name"), False),
            "allow_localhost": as_bool(d.get("allow_localhost"), True),
            "allow_ip_sans": as_bool(d.get("allow_ip_sans"), True),
            "enforce_hostnames": as_bool(d.get("enforce_hostnames"), True),
            "server_flag": as_bool(d.get("server_flag"), True),
            "client_flag": as_bool(d.get("client_flag"), True),
            "generate_lease": as_bool(d.get("generate_lease"), False),
            "require_cn": as_bool(d.get("require_cn"), True),
            "key_type": kt,
            "key_bits": bits,
        }
    except ValueError as e:
        raise ConfigError("role %s: %s" % (name, e))


# --------------------------------------------------------------------------- mounts

class Mount:
    SECRET_TYPES = ("kv", "database", "pki")
    AUTH_TYPES = ("kubernetes", "jwt")

    def __init__(self, path, spec, now):
        path = path.strip("/")
        self.path = path
        self.is_auth = path.startswith("auth/")
        t = spec.get("type")
        if t in ("kv-v2", "kv-v1", "generic"):
            self.options = {"version": "2" if t == "kv-v2" else "1"} if t != "generic" else None
            t = "kv"
        else:
            ver = spec.get("version", (spec.get("options") or {}).get("version"))
            self.options = {"version": str(ver)} if t == "kv" and ver is not None else None
        if t == "kv" and self.options is None:
            self.options = {"version": "1"}
        allowed = self.AUTH_TYPES if self.is_auth else self.SECRET_TYPES
        if t not in allowed:
            raise ConfigError("mount %s: unsupported type %r" % (path, t))
        if self.is_auth and path.count("/") < 1 or path in ("auth/token", "sys", "auth") or \
                path.startswith("sys/"):
            raise ConfigError("mount %s: reserved path" % path)
        self.type = t
        self.accessor = "%s_%s" % ("auth_" + t if self.is_auth else t, uuid.uuid4().hex[:8])
        self.uuid = new_uuid()
        self.description = spec.get("description", "")
        try:
            self.default_lease_ttl = parse_duration(spec.get("default_lease_ttl"), 0)
            self.max_lease_ttl = parse_duration(spec.get("max_lease_ttl"), 0)
        except ValueError as e:
            raise ConfigError("mount %s: %s" % (path, e))
        self.config = {}
        self.keys = []
        self.roles = {}
        self.kv = {}
        self.kv_max_versions = as_int(spec.get("max_versions"), 0)
        self.kv_cas_required = as_bool(spec.get("cas_required"), False)
        self.pki_ca = None
        self.pki_spec = {"common_name": spec.get("ca_common_name", "vaultdev %s root" % path),
                         "key_type": spec.get("ca_key_type", "rsa"),
                         "key_bits": as_int(spec.get("ca_key_bits"), 0)}
        if self.is_auth:
            self.set_config(spec.get("config"), replace=True)
        for name, r in (spec.get("roles") or {}).items():
            self.set_role(name, r)
        if t == "kv":
            if self.kv_v2:
                for p, data in (spec.get("data") or {}).items():
                    self.kv2_write(p, data, now)
                for p, vers in (spec.get("versions") or {}).items():
                    for data in vers:
                        self.kv2_write(p, data, now)
            else:
                for p, data in (spec.get("data") or {}).items():
                    self.kv[p.strip("/")] = data

    @property
    def kv_v2(self):
        return self.type == "kv" and (self.options or {}).get("version") == "2"

    @property
    def mount_type(self):
        return self.type

    def set_config(self, cfg, replace=False):
        cfg = dict(cfg or {}) if cfg is not None else None
        if cfg is None:
            if replace:
                self.config = None
                self.keys = []
            return
        if not replace and self.config:
            merged = dict(self.config)
            merged.update(cfg)
            cfg = merged
        if self.type == "kubernetes":
            pems = _split_pems(cfg.get("pem_keys") or [])
            keys = _load_keys(pems)
            cfg["pem_keys"] = pems
            cfg["disable_iss_validation"] = as_bool(cfg.get("disable_iss_validation"), True)
            cfg.setdefault("issuer", "")
        else:
            if cfg.get("oidc_discovery_url") or cfg.get("jwks_url"):
                raise ConfigError("vaultdev supports only jwt_validation_pubkeys")
            pems = _split_pems(cfg.get("jwt_validation_pubkeys") or [])
            keys = _load_keys(pems)
            cfg["jwt_validation_pubkeys"] = pems
            cfg["jwt_supported_algs"] = as_list(cfg.get("jwt_supported_algs")) or ["RS256"]
            cfg.setdefault("bound_issuer", "")
            cfg.setdefault("default_role", "")
        self.config = cfg
        self.keys = keys

    def add_keys(self, pems, replace=False):
        field = "pem_keys" if self.type == "kubernetes" else "jwt_validation_pubkeys"
        cfg = dict(self.config or {})
        cur = [] if replace else list(cfg.get(field) or [])
        cfg[field] = cur + _split_pems(pems)
        self.set_config(cfg, replace=True)

    def set_role(self, name, r):
        if not isinstance(r, dict):
            raise ConfigError("role %s: must be an object" % name)
        norm = {"kubernetes": norm_k8s_role, "jwt": norm_jwt_role, "database": norm_db_role,
                "pki": norm_pki_role}.get(self.type)
        if norm is None:
            raise ConfigError("mount %s (%s) has no roles" % (self.path, self.type))
        self.roles[name] = norm(name, r)

    # KV v2 storage ---------------------------------------------------------

    def kv2_meta(self, p, create=False, now=0.0):
        p = p.strip("/")
        m = self.kv.get(p)
        if m is None and create:
            m = {"versions": {}, "current": 0, "oldest": 0, "max_versions": 0,
                 "cas_required": False, "delete_version_after": 0, "custom_metadata": None,
                 "created": now, "updated": now}
            self.kv[p] = m
        return m

    def kv2_write(self, p, data, now, custom_metadata=None):
        m = self.kv2_meta(p, create=True, now=now)
        n = m["current"] + 1
        m["versions"][n] = {"data": data, "created": now, "deletion": None,
                            "destroyed": False}
        m["current"] = n
        m["updated"] = now
        if custom_metadata is not None:
            m["custom_metadata"] = custom_metadata
        if m["oldest"] == 0:
            m["oldest"] = 1
        maxv = m["max_versions"] or self.kv_max_versions or 10
        while len(m["versions"]) > maxv:
            oldest = min(m["versions"])
            del m["versions"][oldest]
            m["oldest"] = min(m["versions"])
        return n

    def get_ca(self, now):
        if self.pki_ca is None:
            import vd_x509
            self.pki_ca = vd_x509.CA(self.pki_spec["common_name"], now,
                                     self.pki_spec["key_type"], self.pki_spec["key_bits"])
        return self.pki_ca


class Namespace:
    def __init__(self, path):
        self.path = path            # "" for root, else "a/" or "a/b/"
        self.id = "root" if not path else rand_b62(5)
        self.mounts = {}
        self.policies = {}


# --------------------------------------------------------------------------- tokens, leases

class Token:
    def __init__(self):
        self.id = ""
        self.accessor = ""
        self.ns = None
        self.policies = []
        self.token_policies = []
        self.meta = None
        self.display_name = ""
        self.path = ""
        self.role = ""
        self.mount = None
        self.issue_time = 0.0
        self.expire_time = None
        self.ttl = 0
        self.creation_ttl = 0
        self.explicit_max_ttl = 0
        self.period = 0
        self.backend_ttl = 0
        self.backend_max_ttl = 0
        self.renewable = True
        self.num_uses = 0
        self.entity_id = ""
        self.orphan = True
        self.revoked = None         # None, or the reason string
        self.revoked_time = None
        self.last_renewal_time = None
        self.renew_count = 0
        self.leases = []
        self.requests = 0
        self.bound_cidrs = []

    def alive(self, now):
        return self.revoked is None and (self.expire_time is None or now < self.expire_time)

    def remaining(self, now):
        if self.expire_time is None:
            return 0
        return max(0, int(self.expire_time - now))


class Lease:
    def __init__(self):
        self.id = ""
        self.ns = None
        self.path = ""
        self.mount = None
        self.kind = ""
        self.owner = None
        self.issue_time = 0.0
        self.expire_time = 0.0
        self.ttl = 0
        self.backend_ttl = 0
        self.backend_max_ttl = 0
        self.renewable = True
        self.revoked = None
        self.revoked_time = None
        self.last_renewal_time = None
        self.renew_count = 0
        self.username = None


# --------------------------------------------------------------------------- state

class State:
    def __init__(self, config=None):
        self.lock = threading.Lock()
        self.time_offset = 0.0
        self.connections = 0
        self.faults = []
        self.fault_seq = 0
        self.load(config or {})

    # clock --------------------------------------------------------------
    def now(self):
        return time.time() + self.time_offset

    # configuration ------------------------------------------------------
    def load(self, cfg):
        """(Re)build everything from a config dict. Raises ConfigError."""
        self.config = cfg
        self.flavor = cfg.get("flavor", "vault")
        if self.flavor not in ("vault", "openbao"):
            raise ConfigError("flavor must be vault or openbao")
        self.version = cfg.get("version", "1.15.2")
        self.cluster_name = cfg.get("cluster_name", "vault-cluster-vaultdev")
        self.cluster_id = new_uuid()
        try:
            self.sys_default_ttl = parse_duration(cfg.get("default_lease_ttl"), 0) or \
                SYSTEM_DEFAULT_TTL
            self.sys_max_ttl = parse_duration(cfg.get("max_lease_ttl"), 0) or SYSTEM_DEFAULT_TTL
        except ValueError as e:
            raise ConfigError(str(e))
        self.max_request_size = as_int(cfg.get("max_request_size"), 32 * 1024 * 1024)
        self.initialized = as_bool(cfg.get("initialized"), True)
        self.sealed = as_bool(cfg.get("sealed"), False)
        self.standby = as_bool(cfg.get("standby"), False)
        self.active_addr = cfg.get("active_addr", "")
        now = self.now()
        self.namespaces = {"": Namespace("")}
        self.tokens = {}
        self.by_accessor = {}
        self.next_sweep = float("inf")
        self.leases = {}
        self.entities = {}
        self.reset_counters()
        self._load_ns(self.namespaces[""], cfg, now)
        for nspath, spec in sorted((cfg.get("namespaces") or {}).items()):
            ns = self.add_namespace(nspath)
            self._load_ns(ns, spec or {}, now)
        root = cfg.get("root_token")
        if root:
            self.create_token(self.namespaces[""], ["root"], ttl=0, token_id=root,
                              path="auth/token/root", display_name="root", no_default=True)

    def _load_ns(self, ns, spec, now):
        for name, pol in (spec.get("policies") or {}).items():
            self.set_policy(ns, name, pol)
        for path, m in (spec.get("mounts") or {}).items():
            self.add_mount(ns, path, m, now)

    @staticmethod
    def norm_ns(path):
        path = (path or "").strip().strip("/")
        return path + "/" if path else ""

    def add_namespace(self, path):
        path = self.norm_ns(path)
        if not path:
            return self.namespaces[""]
        parent = ""
        for seg in path.rstrip("/").split("/"):
            if seg in ("sys", "auth", "") or "+" in seg or "*" in seg:
                raise ConfigError("invalid namespace name %r" % seg)
            parent = parent + seg + "/"
            if parent not in self.namespaces:
                self.namespaces[parent] = Namespace(parent)
        return self.namespaces[path]

    def get_ns(self, path):
        ns = self.namespaces.get(self.norm_ns(path))
        if ns is None:
            raise ConfigError("no such namespace %r" % path)
        return ns

    def set_policy(self, ns, name, spec):
        if name in ("root",):
            raise ConfigError('cannot update "root" policy')
        ns.policies[name] = Policy(name, spec)

    def add_mount(self, ns, path, spec, now=None):
        m = Mount(path, spec or {}, self.now() if now is None else now)
        ns.mounts[m.path] = m
        return m

    def get_mount(self, ns, path):
        m = ns.mounts.get(path.strip("/"))
        if m is None:
            raise ConfigError("no mount %r in namespace %r" % (path, ns.path))
        return m

    def find_mount(self, ns, path):
        """Longest mount whose path is a prefix (by segment) of path."""
        best = None
        for mp, m in ns.mounts.items():
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best.path):
                    best = m
        return best

    def sysview(self, mount):
        d = (mount.default_lease_ttl if mount else 0) or self.sys_default_ttl
        mx = (mount.max_lease_ttl if mount else 0) or self.sys_max_ttl
        return d, mx

    def acl_for(self, token):
        if "root" in token.policies:
            return ROOT_ACL
        pols = []
        for name in token.policies:
            if name == "default" and "default" not in token.ns.policies:
                pols.append(DEFAULT_POLICY_OBJ)
            elif name in token.ns.policies:
                pols.append(token.ns.policies[name])
        return ACL(pols)

    # TTL arithmetic -------------------------------------------------------
    def calculate_ttl(self, mount, increment, backend_ttl, period, backend_max, explicit_max,
                      start):
        """framework.CalculateTTL: returns (ttl, warnings) or raises ValueError."""
        now = int(self.now())
        start = int(start) if start else now
        sys_default, sys_max = self.sysview(mount)
        max_ttl = sys_max
        if 0 < backend_max < max_ttl:
            max_ttl = backend_max
        if 0 < explicit_max < max_ttl:
            max_ttl = explicit_max
        warnings = []
        max_valid = None
        if period > 0:
            if period > max_ttl:
                warnings.append('period of "%s" exceeded the effective max_ttl of "%s"; '
                                'period value is capped accordingly'
                                % (go_duration(period), go_duration(max_ttl)))
                period = max_ttl
            ttl = period
            if explicit_max > 0:
                max_valid = start + explicit_max
        else:
            if increment > 0:
                ttl = increment
            elif backend_ttl > 0:
                ttl = backend_ttl
            else:
                ttl = sys_default
            max_valid = start + max_ttl
        if max_valid is not None:
            left = max_valid - now
            if left <= 0:
                raise ValueError("past the max TTL, cannot renew")
            if left - ttl < 0:
                warnings.append('TTL of "%s" exceeded the effective max_ttl of "%s"; '
                                'TTL value is capped accordingly'
                                % (go_duration(ttl), go_duration(left)))
                ttl = left
        return ttl, warnings

    # tokens ---------------------------------------------------------------
    def _new_token_id(self, ns):
        # Opaque like Vault >= 1.10 service tokens ("hvs." + ~91 chars); tokens from
        # a child namespace carry ".<nsid>" [infer, facts §2.1].
        tid = "hvs.CAESI" + rand_b62(86)
        if ns.path:
            tid += "." + ns.id
        return tid

    def create_token(self, ns, policies, ttl=None, max_ttl=0, explicit_max_ttl=0, period=0,
                     renewable=True, num_uses=0, meta=None, display_name="token",
                     path="auth/token/create", role="", mount=None, entity_id="",
                     token_id=None, no_default=False, bound_cidrs=None):
        """Create a service token. ttl=None means computed from the mount /
        system defaults; ttl=0 with policies ["root"] gives a non-expiring root
        token. Returns (token, warnings)."""
        t = Token()
        t.id = token_id or self._new_token_id(ns)
        if t.id in self.tokens:
            raise ConfigError("token id already in use")
        t.accessor = rand_b62(24)
        t.ns = ns
        pols = set(policies or [])
        if "root" not in pols and not no_default:
            pols.add("default")
        t.token_policies = sorted(pols)
        t.policies = list(t.token_policies)
        t.meta = meta
        t.display_name = display_name
        t.path = path
        t.role = role
        t.mount = mount
        t.issue_time = self.now()
        t.renewable = renewable
        t.num_uses = num_uses
        t.entity_id = entity_id
        t.bound_cidrs = bound_cidrs or []
        warnings = []
        if "root" in pols and not ttl:
            t.expire_time = None
            t.ttl = 0
            t.renewable = False
        else:
            t.backend_ttl = ttl or 0
            t.backend_max_ttl = max_ttl
            t.explicit_max_ttl = explicit_max_ttl
            t.period = period
            ttl, warnings = self.calculate_ttl(mount, 0, t.backend_ttl, period, max_ttl,
                                               explicit_max_ttl, t.issue_time)
            t.ttl = ttl
            t.expire_time = t.issue_time + ttl
        t.creation_ttl = t.ttl
        self.tokens[t.id] = t
        self.by_accessor[t.accessor] = t
        self.note_expiry(t.expire_time)
        self._prune_tokens()
        return t, warnings

    def _prune_tokens(self):
        if len(self.tokens) <= MAX_TOKENS_KEPT:
            return
        dead = [t for t in self.tokens.values() if t.revoked is not None]
        dead.sort(key=lambda t: t.revoked_time or 0)
        for t in dead[:len(self.tokens) - MAX_TOKENS_KEPT]:
            del self.tokens[t.id]
            self.by_accessor.pop(t.accessor, None)

    def lookup_token(self, tid):
        """The live token for tid, or None (unknown, revoked or expired)."""
        t = self.tokens.get(tid) if tid else None
        if t is None:
            return None
        now = self.now()
        if not t.alive(now):
            if t.revoked is None:
                self.revoke_token(t, "expired")
            return None
        return t

    def revoke_token(self, t, reason):
        if t.revoked is not None:
            return
        t.revoked = reason
        t.revoked_time = self.now()
        lease_reason = "token_expired" if reason == "expired" else "token_revoked"
        for lid in t.leases:
            le = self.leases.get(lid)
            if le is not None:
                self.revoke_lease(le, lease_reason)

    # leases ---------------------------------------------------------------
    def create_lease(self, ns, req_path, mount, kind, owner, ttl, backend_ttl, backend_max,
                     renewable=True, username=None):
        le = Lease()
        le.id = req_path + "/" + rand_b62(24) + ("." + ns.id if ns.path else "")
        le.ns = ns
        le.path = req_path
        le.mount = mount
        le.kind = kind
        le.owner = owner
        le.issue_time = self.now()
        le.ttl = ttl
        le.expire_time = le.issue_time + ttl
        le.backend_ttl = backend_ttl
        le.backend_max_ttl = backend_max
        le.renewable = renewable
        le.username = username
        self.leases[le.id] = le
        self.note_expiry(le.expire_time)
        if owner is not None:
            owner.leases.append(le.id)
            if owner.revoked is not None:
                # The owner died while the secret was being made (PKI drops the
                # lock for key generation): the lease goes with it.
                self.revoke_lease(le, "token_revoked")
        self._prune_leases()
        return le

    def _prune_leases(self):
        if len(self.leases) <= MAX_LEASES_KEPT:
            return
        dead = [le for le in self.leases.values() if le.revoked is not None]
        dead.sort(key=lambda le: le.revoked_time or 0)
        for le in dead[:len(self.leases) - MAX_LEASES_KEPT]:
            del self.leases[le.id]

    def revoke_lease(self, le, reason):
        if le.revoked is None:
            le.revoked = reason
            le.revoked_time = self.now()

    def note_expiry(self, ts):
        """Record a new or changed expiry time so sweep() looks again."""
        if ts is not None and ts < self.next_sweep:
            self.next_sweep = ts

    def sweep(self):
        """Expire tokens and leases whose time has come (Vault does this on
        timers; doing it lazily before every request and admin read is
        indistinguishable from outside). Cheap until the earliest expiry."""
        now = self.now()
        if now < self.next_sweep:
            return
        nxt = float("inf")
        for t in list(self.tokens.values()):
            if t.revoked is None and t.expire_time is not None:
                if now >= t.expire_time:
                    self.revoke_token(t, "expired")
                else:
                    nxt = min(nxt, t.expire_time)
        for le in self.leases.values():
            if le.revoked is None:
                if now >= le.expire_time:
                    self.revoke_lease(le, "expired")
                else:
                    nxt = min(nxt, le.expire_time)
        self.next_sweep = nxt

    def live_lease(self, ns, lease_id):
        le = self.leases.get(lease_id)
        if le is None or le.ns is not ns or le.revoked is not None:
            return None
        if self.now() >= le.expire_time:
            self.revoke_lease(le, "expired")
            return None
        return le

    def entity_for(self, mount, alias):
        key = (mount.accessor, alias)
        if key not in self.entities:
            self.entities[key] = new_uuid()
        return self.entities[key]

    # counters -------------------------------------------------------------
    def reset_counters(self):
        self.req_counts = collections.Counter()
        self.token_counts = collections.Counter()
        self.total_requests = 0
        self.request_log = collections.deque(maxlen=REQUEST_LOG_LEN)
        self.request_seq = 0
        self.connections = 0

    def record(self, entry):
        key = (entry["method"], entry["path"], entry["status"])
        if key in self.req_counts or len(self.req_counts) < MAX_COUNTER_KEYS:
            self.req_counts[key] += 1
        if entry.get("accessor"):
            self.token_counts[entry["accessor"]] += 1
        self.total_requests += 1
        self.request_seq += 1
        entry["seq"] = self.request_seq
        self.request_log.append(entry)

    # admin views ------------------------------------------------------------
    def token_view(self, t):
        now = self.now()
        return {
            "accessor": t.accessor, "namespace": t.ns.path, "policies": t.policies,
            "display_name": t.display_name, "path": t.path, "role": t.role,
            "metadata": t.meta, "issue_time": t.issue_time, "expire_time": t.expire_time,
            "ttl": t.remaining(now), "creation_ttl": t.creation_ttl,
            "explicit_max_ttl": t.explicit_max_ttl, "period": t.period,
            "renewable": t.renewable, "num_uses": t.num_uses,
            "expired": t.expire_time is not None and now >= t.expire_time,
            "revoked": t.revoked is not None, "revoke_reason": t.revoked,
            "revoked_time": t.revoked_time, "last_renewal_time": t.last_renewal_time,
            "renew_count": t.renew_count, "lease_ids": list(t.leases),
            "requests": t.requests, "entity_id": t.entity_id,
        }

    def lease_view(self, le):
        now = self.now()
        return {
            "lease_id": le.id, "namespace": le.ns.path, "path": le.path, "kind": le.kind,
            "mount": le.mount.path if le.mount else "",
            "owner_accessor": le.owner.accessor if le.owner else None,
            "issue_time": le.issue_time, "expire_time": le.expire_time,
            "ttl": max(0, int(le.expire_time - now)) if le.revoked is None else 0,
            "renewable": le.renewable, "renew_count": le.renew_count,
            "last_renewal_time": le.last_renewal_time,
            "expired": now >= le.expire_time, "revoked": le.revoked is not None,
            "revoke_reason": le.revoked, "revoked_time": le.revoked_time,
            "username": le.username,
        }

    def overview(self):
        nss = {}
        for path, ns in sorted(self.namespaces.items()):
            nss[path] = {
                "id": ns.id,
                "policies": sorted(ns.policies),
                "mounts": {p: {"type": m.type, "accessor": m.accessor, "options": m.options,
                               "default_lease_ttl": m.default_lease_ttl,
                               "max_lease_ttl": m.max_lease_ttl,
                               "roles": sorted(m.roles),
                               "keys": len(m.keys)} for p, m in sorted(ns.mounts.items())},
            }
        return {"flavor": self.flavor, "version": self.version,
                "initialized": self.initialized, "sealed": self.sealed,
                "standby": self.standby, "active_addr": self.active_addr,
                "time_offset": self.time_offset, "now": self.now(), "namespaces": nss}


DEFAULT_POLICY_OBJ = Policy("default", {k: sorted(v) for k, v in DEFAULT_POLICY.items()})
ROOT_ACL = ACL([Policy("root", [])])


def load_config_file(path):
    with open(path, "r", encoding="utf-8") as f:
        try:
            cfg = json.load(f)
        except ValueError as e:
            raise ConfigError("%s: %s" % (path, e))
    if not isinstance(cfg, dict):
        raise ConfigError("%s: top level must be an object" % path)
    base = os.path.dirname(os.path.abspath(path))

    def fix(v, key_field=False):
        # "@relative.pem" in a key field of a config file is relative to the file.
        if key_field and isinstance(v, str) and v.startswith("@") and not v.startswith("@/"):
            return "@" + os.path.join(base, v[1:])
        if isinstance(v, list):
            return [fix(x, key_field) for x in v]
        if isinstance(v, dict):
            return {k: fix(x, key_field or k in KEY_FIELDS) for k, x in v.items()}
        return v
    return fix(cfg)


KEY_FIELDS = ("pem_keys", "jwt_validation_pubkeys")
