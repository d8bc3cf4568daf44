# SPDX-License-Identifier: Apache-2.0
"""The Vault HTTP API: turns one parsed request into one response, following
/work/shared/docs/vault-api-facts.md. Section numbers in comments (§) refer to
that file; "[infer]" marks behaviour the facts do not pin down.

The caller holds State.lock around API.handle(); a handler that does slow
work (PKI key generation) drops it with API.unlocked()."""

import contextlib
import ipaddress
import json
import urllib.parse

import vd_jwt
from vd_state import ConfigError
from vd_util import (as_bool, as_int, as_list, glob_match, go_encode, go_escape, new_uuid,
                     parse_duration, rand_b62, rfc3339nano)


def multi(msg):
    """Go hashicorp/go-multierror text for one error, as Vault's core returns
    plain Go errors (permission denied, unsupported operation/path)."""
    return "1 error occurred:\n\t* %s\n\n" % msg


PERMISSION_DENIED = multi("permission denied")
INVALID_TOKEN_VAULT = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
UNSUPPORTED_OPERATION = multi("unsupported operation")
UNSUPPORTED_PATH = multi("unsupported path")
SEAL_FREE = ("sys/health", "sys/seal-status", "sys/leader", "sys/init", "sys/unseal")


class Ordered(list):
    """A JSON object whose keys keep their order (a Go struct)."""


class Resp:
    __slots__ = ("status", "body", "headers", "ctype")

    def __init__(self, status, body=b"", headers=None, ctype="application/json"):
        self.status = status
        self.body = body
        self.headers = headers or []
        self.ctype = ctype


class Req:
    __slots__ = ("method", "path", "raw_target", "query", "headers", "body", "remote",
                 "listener")

    def __init__(self, method, raw_target, headers, body, remote="127.0.0.1",
                 listener="main"):
        self.method = method.upper()
        self.raw_target = raw_target
        u = urllib.parse.urlsplit(raw_target)
        self.path = urllib.parse.unquote(u.path)
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.remote = remote
        self.listener = listener


class Ctx:
    __slots__ = ("req", "ns", "path", "op", "data", "token", "info")


def _encode_value(v):
    if isinstance(v, Ordered):
        return "{" + ",".join(json.dumps(k) + ":" + _encode_value(x) for k, x in v) + "}"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _encode_value(v[k])
                              for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_encode_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def encode(v):
    return (go_escape(_encode_value(v)) + "\n").encode("utf-8")


def errors(status, msgs, headers=None):
    return Resp(status, go_encode({"errors": list(msgs)}), headers)


def _kv_list(keys, prefix):
    """Direct children of prefix among keys; folders end in '/'."""
    out = set()
    for k in keys:
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if not rest:
            continue
        head, sep, _ = rest.partition("/")
        out.add(head + sep)
    return sorted(out)


class API:
    def __init__(self, state, main_addr_fn=None):
        self.st = state
        self.main_addr_fn = main_addr_fn or (lambda: "")

    @contextlib.contextmanager
    def unlocked(self):
        self.st.lock.release()
        try:
            yield
        finally:
            self.st.lock.acquire()

    # ---------------------------------------------------------------- envelope
    def envelope(self, status=200, data=None, auth=None, lease_id="", renewable=False,
                 lease_duration=0, warnings=None, mount_type=None, top_level=False):
        """§1.4 response envelope, in Vault's wire order."""
        pairs = Ordered([("request_id", new_uuid()), ("lease_id", lease_id),
                         ("renewable", renewable), ("lease_duration", lease_duration),
                         ("data", data), ("wrap_info", None),
                         ("warnings", list(warnings) if warnings else None), ("auth", auth)])
        if mount_type is not None and self.st.flavor == "vault":
            pairs.append(("mount_type", mount_type))
        if top_level and isinstance(data, dict):
            # §1.4: sys/* endpoints also copy every data key to the top level.
            have = {k for k, _ in pairs}
            for k in sorted(data):
                if k not in have:
                    pairs.append((k, data[k]))
        return Resp(status, encode(pairs))

    def auth_block(self, t, ttl):
        a = Ordered([("client_token", t.id), ("accessor", t.accessor),
                     ("policies", t.policies)])
        if t.token_policies:
            a.append(("token_policies", t.token_policies))
        a += [("metadata", t.meta), ("lease_duration", ttl), ("renewable", t.renewable),
              ("entity_id", t.entity_id), ("token_type", "service"), ("orphan", t.orphan),
              ("mfa_requirement", None), ("num_uses", t.num_uses)]
        return a

    # ---------------------------------------------------------------- entry
    def resolve_ns(self, header, rel):
        """§1.2: header namespace + path namespace, longest existing match."""
        full = self.st.norm_ns(header) + rel
        ns = self.st.namespaces[""]
        rest = full
        while "/" in rest:
            seg, _, remainder = rest.partition("/")
            cand = self.st.namespaces.get(ns.path + seg + "/")
            if cand is None:
                break
            ns, rest = cand, remainder
        return ns, rest

    def handle(self, req, info):
        st = self.st
        if not req.path.startswith("/v1/"):
            # Go's http.NotFound for paths outside /v1/ [infer: UI disabled].
            return Resp(404, b"404 page not found\n", ctype="text/plain; charset=utf-8")
        ns, path = self.resolve_ns(req.headers.get("X-Vault-Namespace", ""), req.path[4:])
        info["namespace"] = ns.path
        info["vault_path"] = path
        standby = req.listener == "standby" or st.standby

        if path == "sys/health":
            return self.sys_health(req, standby)
        if st.sealed and path not in SEAL_FREE:
            return errors(503, ["Vault is sealed"])
        if path == "sys/seal-status" and req.method == "GET":
            return self.sys_seal_status()
        if path == "sys/leader" and req.method == "GET":
            return self.sys_leader(standby)
        if standby:
            # §1.6: a standby that cannot forward answers 307 to the active node.
            active = self.main_addr_fn() if req.listener == "standby" else st.active_addr
            if not active:
                return errors(503, ["no active Vault instance found"])
            return Resp(307, b"", [("Location", active.rstrip("/") + req.raw_target)])

        ctx = Ctx()
        ctx.req, ctx.ns, ctx.info, ctx.token = req, ns, info, None
        r = self.parse_operation(ctx, path)
        if r is not None:
            return r
        return self.route(ctx)

    def parse_operation(self, ctx, path):
        """§1.1 method -> operation and request data."""
        req = ctx.req
        m = req.method

        def query_data():
            return {k: (v[0] if len(v) == 1 else v) for k, v in req.query.items()}
        if m == "GET":
            ctx.op = "read"
            lv = req.query.get("list")
            if lv and lv[0] != "":
                try:
                    if as_bool(lv[0]):
                        ctx.op = "list"
                except ValueError:
                    return errors(400, ["invalid list parameter"])
            ctx.data = query_data()     # a body sent with GET is ignored
        elif m in ("POST", "PUT", "PATCH"):
            ctx.op = "update" if m != "PATCH" else "patch"
            if m == "PATCH":
                ct = (req.headers.get("Content-Type") or "").split(";")[0].strip()
                if ct != "application/merge-patch+json":
                    return errors(415, ["PATCH requires Content-Type of "
                                        "application/merge-patch+json, provided %s" % ct])
            body = req.body or b""
            ct = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            stripped = body.lstrip()
            if ct == "application/x-www-form-urlencoded" and stripped[:1] not in (b"{", b"["):
                try:
                    form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True)
                except UnicodeError:
                    return errors(400, ["error parsing form"])
                ctx.data = {k: (v[0] if len(v) == 1 else v) for k, v in form.items()}
            elif not stripped:
                ctx.data = {}
            else:
                try:
                    d = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeError):
                    return errors(400, ["error parsing JSON"])
                if d is None:
                    d = {}
                if not isinstance(d, dict):
                    return errors(400, ["error parsing JSON"])
                ctx.data = d
        elif m == "DELETE":
            ctx.op = "delete"
            ctx.data = query_data()
        elif m == "LIST":
            ctx.op = "list"
            ctx.data = query_data()
        else:
            # Unknown methods (HEAD, OPTIONS, ...): 405 with an empty errors list.
            return errors(405, [])
        if ctx.op == "list" and not path.endswith("/"):
            path += "/"
        ctx.path = path
        return None

    # ---------------------------------------------------------------- routing
    def route(self, ctx):
        st = self.st
        path = ctx.path
        mount = st.find_mount(ctx.ns, path)
        if mount is not None and mount.is_auth and path == mount.path + "/login":
            if ctx.op != "update":
                return errors(405, [UNSUPPORTED_OPERATION])
            # Login paths ignore any X-Vault-Token (§1.3).
            return self.login_k8s(ctx, mount) if mount.type == "kubernetes" \
                else self.login_jwt(ctx, mount)
        if path.startswith("sys/internal/ui/mounts/"):
            return self.sys_ui_mount(ctx)
        if mount is not None and mount.type == "pki" and ctx.op == "read" and \
                path[len(mount.path) + 1:] in ("ca/pem", "cert/ca", "ca_chain"):
            return self.pki_ca(ctx, mount, path[len(mount.path) + 1:])

        # Everything else needs a valid token, then the ACL (§1.5).
        r = self.check_token(ctx)
        if r is not None:
            return r
        if path.startswith("sys/"):
            cap, handler = self.sys_route(ctx)
        elif path == "auth/token" or path.startswith("auth/token/"):
            cap, handler = self.token_route(ctx)
        elif mount is None:
            cap, handler = self.op_cap(ctx.op), self.no_handler
        elif mount.is_auth:
            cap, handler = self.op_cap(ctx.op), self.unsupported_path
        elif mount.type == "kv":
            cap, handler = self.kv_route(ctx, mount)
        elif mount.type == "database":
            cap, handler = self.db_route(ctx, mount)
        else:
            cap, handler = self.pki_route(ctx, mount)
        acl_path = ctx.ns.path[len(ctx.token.ns.path):] + path
        acl = st.acl_for(ctx.token)
        if not acl.allowed(acl_path, cap):
            return errors(403, [PERMISSION_DENIED])
        t = ctx.token
        t.requests += 1
        resp = handler(ctx)
        if t.num_uses > 0:
            t.num_uses -= 1
            if t.num_uses == 0:
                # A use-limited token is revoked once its last use is spent.
                st.revoke_token(t, "num_uses_exhausted")
        return resp

    @staticmethod
    def op_cap(op):
        return {"read": "read", "list": "list", "delete": "delete", "update": "update",
                "patch": "patch"}[op]

    def check_token(self, ctx):
        st = self.st
        h = ctx.req.headers
        tok = h.get("X-Vault-Token")
        if not tok:
            auth = h.get("Authorization") or ""
            if auth[:7].lower() == "bearer ":
                tok = auth[7:].strip()
        if not tok:
            # [infer] no token at all: the core's plain permission denied.
            return errors(403, [PERMISSION_DENIED])
        t = st.lookup_token(tok)
        if t is None:
            ctx.info["accessor"] = "invalid"
            msg = INVALID_TOKEN_VAULT if st.flavor == "vault" else PERMISSION_DENIED
            return errors(403, [msg])
        ctx.info["accessor"] = t.accessor
        if not ctx.ns.path.startswith(t.ns.path):
            # A token only reaches its own namespace and the ones below it.
            return errors(403, [PERMISSION_DENIED])
        ctx.token = t
        return None

    def no_handler(self, ctx):
        return errors(404, ['no handler for route "%s". route entry not found.' % ctx.path])

    def unsupported_path(self, ctx):
        return errors(404, [UNSUPPORTED_PATH])

    def unsupported_op(self, ctx):
        return errors(405, [UNSUPPORTED_OPERATION])

    # ---------------------------------------------------------------- sys
    def sys_health(self, req, standby):
        st = self.st
        if req.method not in ("GET", "HEAD"):
            return errors(405, [])
        codes = {"activecode": 200, "standbycode": 429, "drsecondarycode": 472,
                 "performancestandbycode": 473, "haunhealthycode": 474,
                 "sealedcode": 503, "uninitcode": 501, "removedcode": 530}
        for name in list(codes):
            v = req.query.get(name)
            if v:
                try:
                    codes[name] = int(v[0])
                except ValueError:
                    return errors(400, ["bad value for %s parameter: invalid syntax" % name])
        for flag, target in (("standbyok", "standbycode"),
                             ("perfstandbyok", "performancestandbycode")):
            v = req.query.get(flag)
            if v:
                try:
                    ok = as_bool(v[0] or "true")
                except ValueError:
                    return errors(400, ["bad value for %s parameter" % flag])
                if ok:
                    codes[target] = codes["activecode"]
        if not st.initialized:
            code = codes["uninitcode"]
        elif st.sealed:
            code = codes["sealedcode"]
        elif standby:
            code = codes["standbycode"]
        else:
            code = codes["activecode"]
        body = Ordered([("initialized", st.initialized), ("sealed", st.sealed),
                        ("standby", bool(standby or st.sealed)),
                        ("performance_standby", False),
                        ("replication_performance_mode", "disabled"),
                        ("replication_dr_mode", "disabled"),
                        ("server_time_utc", int(st.now())), ("version", st.version)])
        if st.initialized and not st.sealed:
            body += [("cluster_name", st.cluster_name), ("cluster_id", st.cluster_id)]
        if req.method == "HEAD":
            return Resp(code, None)
        return Resp(code, encode(body))

    def sys_seal_status(self):
        st = self.st
        body = Ordered([("type", "shamir"), ("initialized", st.initialized),
                        ("sealed", st.sealed), ("t", 1), ("n", 1), ("progress", 0),
                        ("nonce", ""), ("version", st.version), ("build_date", ""),
                        ("migration", False)])
        if st.initialized and not st.sealed:
            body += [("cluster_name", st.cluster_name), ("cluster_id", st.cluster_id)]
        body += [("recovery_seal", False), ("storage_type", "inmem")]
        return Resp(200, encode(body))

    def sys_leader(self, standby):
        main = self.main_addr_fn()
        active = self.st.active_addr if self.st.standby else main
        body = Ordered([("ha_enabled", True), ("is_self", not standby),
                        ("active_time", "0001-01-01T00:00:00Z"),
                        ("leader_address", active or ""),
                        ("leader_cluster_address", ""), ("performance_standby", False),
                        ("performance_standby_last_remote_wal", 0)])
        return Resp(200, encode(body))

    def sys_route(self, ctx):
        p, op = ctx.path, ctx.op
        for base in ("sys/leases/renew", "sys/renew"):
            if p == base or p.startswith(base + "/"):
                return "update", (self.sys_renew if op == "update" else self.unsupported_op)
        for base in ("sys/leases/revoke", "sys/revoke"):
            if p == base or p.startswith(base + "/"):
                return "update", (self.sys_revoke if op == "update" else self.unsupported_op)
        if p == "sys/leases/lookup":
            return "update", (self.sys_lookup if op == "update" else self.unsupported_op)
        return self.op_cap(op), self.unsupported_path

    def _lease_id_arg(self, ctx, base_names):
        lid = ctx.data.get("lease_id") if isinstance(ctx.data, dict) else None
        if not lid:
            for b in base_names:
                if ctx.path.startswith(b + "/"):
                    lid = ctx.path[len(b) + 1:]
        return lid if isinstance(lid, str) else None

    def sys_renew(self, ctx):
        st = self.st
        lid = self._lease_id_arg(ctx, ("sys/leases/renew", "sys/renew"))
        if not lid:
            return errors(400, ["lease_id must be specified"])
        try:
            inc = parse_duration(ctx.data.get("increment"), 0)
        except ValueError:
            return errors(400, ['error converting input for field "increment"'])
        if lid.startswith("auth/"):
            # Token leases are renewed through auth/token/renew*, not here.
            return errors(400, ["lease not found"])
        le = st.live_lease(ctx.ns, lid)
        if le is None:
            # A lease revoked by expiry is gone, like in Vault (so "lease
            # expired" is not reachable here).
            return errors(400, ["lease not found"])
        if not le.renewable:
            return errors(400, ["lease is not renewable"])
        try:
            ttl, warnings = st.calculate_ttl(le.mount, inc, le.backend_ttl, 0,
                                             le.backend_max_ttl, 0, le.issue_time)
        except ValueError as e:
            return errors(400, [str(e)])
        now = st.now()
        le.ttl = ttl
        le.expire_time = now + ttl
        st.note_expiry(le.expire_time)
        le.last_renewal_time = now
        le.renew_count += 1
        return self.envelope(lease_id=le.id, renewable=True, lease_duration=ttl,
                             warnings=warnings, mount_type="system")

    def sys_revoke(self, ctx):
        st = self.st
        lid = self._lease_id_arg(ctx, ("sys/leases/revoke", "sys/revoke"))
        if not lid:
            return errors(400, ["lease_id must be specified"])
        le = st.live_lease(ctx.ns, lid)
        if le is not None:
            st.revoke_lease(le, "revoked")
        # Revoking an unknown lease also succeeds [infer, §5]. sync defaults to true.
        try:
            sync = as_bool(ctx.data.get("sync"), True)
        except ValueError:
            sync = True
        return Resp(204 if sync else 202, None)

    def sys_lookup(self, ctx):
        st = self.st
        lid = ctx.data.get("lease_id")
        if not lid or not isinstance(lid, str):
            return errors(400, ["lease_id must be specified"])
        le = st.live_lease(ctx.ns, lid)
        if le is None:
            return errors(400, ["invalid lease"])        # [infer]
        now = st.now()
        data = {"id": le.id, "issue_time": rfc3339nano(le.issue_time),
                "expire_time": rfc3339nano(le.expire_time),
                "last_renewal": rfc3339nano(le.last_renewal_time)
                if le.last_renewal_time else None,
                "renewable": le.renewable, "ttl": max(0, int(le.expire_time - now))}
        return self.envelope(data=data, mount_type="system", top_level=True)

    def sys_ui_mount(self, ctx):
        """§4.3 preflight: sys/internal/ui/mounts/<path>."""
        st = self.st
        if ctx.op != "read":
            return errors(405, [UNSUPPORTED_OPERATION])
        target = ctx.path[len("sys/internal/ui/mounts/"):]
        deny = errors(403, ["preflight capability check returned 403, please ensure "
                            "client's policies grant access to path \"%s/\""
                            % target.rstrip("/")])
        r = self.check_token(ctx)
        if r is not None:
            return r
        mount = st.find_mount(ctx.ns, target.rstrip("/"))
        if mount is None:
            return deny
        acl = st.acl_for(ctx.token)
        if not acl.any_access_under(ctx.ns.path[len(ctx.token.ns.path):] + mount.path + "/"):
            return deny
        d, mx = st.sysview(mount)
        data = {"accessor": mount.accessor,
                "config": {"default_lease_ttl": mount.default_lease_ttl,
                           "force_no_cache": False, "max_lease_ttl": mount.max_lease_ttl},
                "description": mount.description, "external_entropy_access": False,
                "local": False, "options": mount.options,
                "path": mount.path + "/", "plugin_version": "",
                "running_plugin_version": "", "running_sha256": "", "seal_wrap": False,
                "type": mount.type, "uuid": mount.uuid}
        if mount.is_auth:
            data["path"] = mount.path[len("auth/"):] + "/"
        return self.envelope(data=data, mount_type="system", top_level=True)

    # ---------------------------------------------------------------- token store
    def token_route(self, ctx):
        p, op = ctx.path, ctx.op
        table = {"auth/token/lookup-self": ("read", self.token_lookup_self),
                 "auth/token/renew-self": ("update", self.token_renew_self),
                 "auth/token/revoke-self": ("update", self.token_revoke_self)}
        if p in table:
            need, fn = table[p]
            return self.op_cap(op), (fn if op == need else self.unsupported_op)
        return self.op_cap(op), self.unsupported_path

    def token_lookup_self(self, ctx):
        st = self.st
        t = ctx.token
        now = st.now()
        data = {"accessor": t.accessor, "creation_time": int(t.issue_time),
                "creation_ttl": t.creation_ttl, "display_name": t.display_name,
                "entity_id": t.entity_id,
                "expire_time": rfc3339nano(t.expire_time) if t.expire_time else None,
                "explicit_max_ttl": t.explicit_max_ttl, "id": t.id,
                "issue_time": rfc3339nano(t.issue_time), "meta": t.meta,
                "num_uses": t.num_uses, "orphan": t.orphan, "path": t.path,
                "policies": t.policies, "renewable": t.renewable, "ttl": t.remaining(now),
                "type": "service"}
        if t.last_renewal_time:
            data["last_renewal"] = rfc3339nano(t.last_renewal_time)
            data["last_renewal_time"] = int(t.last_renewal_time)
        if t.period:
            data["period"] = t.period
        if t.ns.path:
            data["namespace_path"] = t.ns.path
        return self.envelope(data=data, mount_type="token")

    def token_renew_self(self, ctx):
        st = self.st
        t = ctx.token
        try:
            inc = parse_duration(ctx.data.get("increment"), 0)
        except ValueError:
            return errors(400, ['error converting input for field "increment"'])
        if t.expire_time is None:
            return errors(400, ["lease not found or lease is not renewable"])   # [infer]
        if not t.renewable:
            return errors(400, ["lease is not renewable"])
        try:
            ttl, warnings = st.calculate_ttl(t.mount, inc, t.backend_ttl, t.period,
                                             t.backend_max_ttl, t.explicit_max_ttl,
                                             t.issue_time)
        except ValueError as e:
            return errors(400, [str(e)])
        now = st.now()
        t.ttl = ttl
        t.expire_time = now + ttl
        st.note_expiry(t.expire_time)
        t.last_renewal_time = now
        t.renew_count += 1
        return self.envelope(auth=self.auth_block(t, ttl), warnings=warnings,
                             mount_type="token")

    def token_revoke_self(self, ctx):
        self.st.revoke_token(ctx.token, "revoked")
        return Resp(204, None)

    # ---------------------------------------------------------------- auth methods
    def _cidr_ok(self, cidrs, remote):
        if not cidrs:
            return True
        try:
            ip = ipaddress.ip_address(remote)
        except ValueError:
            return False
        for c in cidrs:
            try:
                if ip in ipaddress.ip_network(c, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def _issue_login_token(self, ctx, mount, role_name, role, meta, alias, display):
        st = self.st
        try:
            t, warnings = st.create_token(
                ctx.ns, role["token_policies"], ttl=role["token_ttl"],
                max_ttl=role["token_max_ttl"], explicit_max_ttl=role["token_explicit_max_ttl"],
                period=role["token_period"], num_uses=role["token_num_uses"], meta=meta,
                display_name=display, path=ctx.path, role=role_name, mount=mount,
                entity_id=st.entity_for(mount, alias),
                no_default=role["token_no_default_policy"])
        except (ValueError, ConfigError) as e:
            return errors(500, [str(e)])
        ctx.info["accessor"] = t.accessor
        return self.envelope(auth=self.auth_block(t, t.ttl), warnings=warnings,
                             mount_type=mount.type)

    def login_k8s(self, ctx, mount):
        """§2.1/§2.2: kubernetes auth login."""
        st = self.st
        d = ctx.data
        role_name = d.get("role")
        if not role_name or not isinstance(role_name, str):
            return errors(400, ["missing role"])
        jwt_str = d.get("jwt")
        if not jwt_str or not isinstance(jwt_str, str):
            return errors(400, ["missing jwt"])
        role = mount.roles.get(role_name)
        if role is None:
            return errors(400, ['invalid role name "%s"' % role_name])
        if not self._cidr_ok(role["token_bound_cidrs"], ctx.req.remote):
            return errors(403, ["permission denied"])
        cfg = mount.config
        if cfg is None:
            return errors(500, ["could not load backend configuration"])
        try:
            tok = vd_jwt.parse(jwt_str)
        except vd_jwt.JWTError as e:
            return errors(403, [str(e)])
        if mount.keys:
            if tok.alg not in vd_jwt.SUPPORTED_ALGS:
                return errors(403, ["unsupported signing algorithm: %s" % tok.alg])  # [infer]
            if not vd_jwt.verify_signature(tok, mount.keys):
                return errors(403, ["permission denied"])
        c = tok.claims
        now = st.now()
        leeway = 60
        if not cfg.get("disable_iss_validation", True):
            want = cfg.get("issuer") or "kubernetes/serviceaccount"
            if c.get("iss") != want:
                return errors(403, ["invalid issuer (iss) claim"])
        if role["audience"] and role["audience"] not in vd_jwt.audiences(c):
            return errors(403, ["invalid audience (aud) claim: audience claim does not match "
                                "any expected audience"])
        try:
            exp = vd_jwt.num_claim(c, "exp")
            nbf = vd_jwt.num_claim(c, "nbf")
        except vd_jwt.JWTError as e:
            return errors(403, [str(e)])
        if exp is not None and now - leeway > exp:
            return errors(403, ["invalid expiration time (exp) claim: token is expired"])
        if nbf is not None and now + leeway < nbf:
            return errors(403, ["invalid not before (nbf) claim: token not yet valid"])
        sa = self._k8s_service_account(c)
        if sa is None:
            return errors(403, ["permission denied"])
        ns_name, sa_name, sa_uid, secret_name = sa
        nss = role["bound_service_account_namespaces"]
        if not (len(nss) == 1 and nss[0] == "*") and not glob_match(nss, ns_name):
            # A namespace selector cannot match: there is no API server here.
            return errors(403, ["namespace not authorized"])
        names = role["bound_service_account_names"]
        if not (len(names) == 1 and names[0] == "*") and not glob_match(names, sa_name):
            return errors(403, ["service account name not authorized"])
        if not mount.keys:
            # The plugin would now send a TokenReview to the API server. There is
            # none here, so an unverifiable token is rejected like a failed review.
            return errors(403, ["permission denied"])
        meta = {"role": role_name, "service_account_name": sa_name,
                "service_account_namespace": ns_name,
                "service_account_secret_name": secret_name, "service_account_uid": sa_uid}
        alias = "%s/%s" % (ns_name, sa_name) \
            if role["alias_name_source"] == "serviceaccount_name" else sa_uid
        display = "%s-%s-%s" % (mount.path[len("auth/"):].replace("/", "-"), ns_name, sa_name)
        return self._issue_login_token(ctx, mount, role_name, role, meta, alias, display)

    @staticmethod
    def _k8s_service_account(c):
        """(namespace, name, uid, secret_name) from projected or legacy claims;
        None when missing or inconsistent with sub."""
        k = c.get("kubernetes.io")
        if isinstance(k, dict):
            sa = k.get("serviceaccount") or {}
            ns, name, uid, secret = k.get("namespace"), sa.get("name"), sa.get("uid"), ""
        else:
            ns = c.get("kubernetes.io/serviceaccount/namespace")
            name = c.get("kubernetes.io/serviceaccount/service-account.name")
            uid = c.get("kubernetes.io/serviceaccount/service-account.uid")
            secret = c.get("kubernetes.io/serviceaccount/secret.name") or ""
        sub = c.get("sub")
        if isinstance(sub, str) and sub.startswith("system:serviceaccount:"):
            parts = sub.split(":")
            if len(parts) != 4:
                return None
            if ns is None and name is None:
                ns, name = parts[2], parts[3]
            elif (ns, name) != (parts[2], parts[3]):
                return None
        if not isinstance(ns, str) or not isinstance(name, str) or not ns or not name:
            return None
        return ns, name, uid if isinstance(uid, str) else "", secret

    def login_jwt(self, ctx, mount):
        """§3: jwt auth login (role_type jwt); validation failures are 400."""
        st = self.st
        d = ctx.data
        cfg = mount.config
        role_name = d.get("role") or (cfg or {}).get("default_role")
        if not role_name or not isinstance(role_name, str):
            return errors(400, ["missing role"])
        if cfg is None:
            return errors(400, ["could not load configuration"])
        role = mount.roles.get(role_name)
        if role is None:
            return errors(400, ['role "%s" could not be found' % role_name])
        if role["role_type"] == "oidc":
            return errors(400, ["role with oidc role_type is not allowed"])
        jwt_str = d.get("jwt")
        if not jwt_str or not isinstance(jwt_str, str):
            return errors(400, ["missing token"])
        if not self._cidr_ok(role["token_bound_cidrs"], ctx.req.remote):
            return errors(403, ["permission denied"])

        def bad(msg):
            return errors(400, ["error validating token: " + msg])
        try:
            tok = vd_jwt.parse(jwt_str)
        except vd_jwt.JWTError as e:
            return bad(str(e))
        # [infer] cap/jwt wording for algorithm and signature failures.
        if tok.alg not in cfg["jwt_supported_algs"] or tok.alg not in vd_jwt.SUPPORTED_ALGS:
            return bad("invalid algorithm (alg) header parameter: unsupported "
                       "signing algorithm %s" % tok.alg)
        if not vd_jwt.verify_signature(tok, mount.keys):
            return bad("error verifying token signature: no known key successfully "
                       "validated the token signature")
        c = tok.claims
        if cfg.get("bound_issuer") and c.get("iss") != cfg["bound_issuer"]:
            return bad("invalid issuer (iss) claim")
        if role["bound_subject"] and c.get("sub") != role["bound_subject"]:
            return bad("invalid subject (sub) claim")
        auds = vd_jwt.audiences(c)
        if role["bound_audiences"] and not set(auds) & set(role["bound_audiences"]):
            return bad("invalid audience (aud) claim: audience claim does not match any "
                       "expected audience")
        now = st.now()
        skew = role["clock_skew_leeway"]
        try:
            exp = vd_jwt.num_claim(c, "exp")
            nbf = vd_jwt.num_claim(c, "nbf")
            iat = vd_jwt.num_claim(c, "iat")
        except vd_jwt.JWTError as e:
            return bad(str(e))
        if exp is not None and now - role["expiration_leeway"] - skew > exp:
            return bad("invalid expiration time (exp) claim: token is expired")
        if nbf is not None and now + role["not_before_leeway"] + skew < nbf:
            return bad("invalid not before (nbf) claim: token not yet valid")
        if iat is not None and now + skew < iat:
            return bad("invalid issued at (iat) claim: token issued in the future")
        if auds and not role["bound_audiences"]:
            return errors(400, ["audience claim found in JWT but no audiences bound to the "
                                "role"])
        for claim, want in role["bound_claims"].items():
            have = self._claim(c, claim)
            if have is None:
                return errors(400, ['error validating claims: claim "%s" is missing' % claim])
            wants = want if isinstance(want, list) else [want]
            haves = have if isinstance(have, list) else [have]
            ok = False
            for h in haves:
                for w in wants:
                    if role["bound_claims_type"] == "glob" and isinstance(h, str) and \
                            isinstance(w, str):
                        ok = ok or glob_match([w], h)
                    else:
                        ok = ok or h == w
            if not ok:
                return errors(400, ['error validating claims: claim "%s" does not match any '
                                    'associated bound claim values' % claim])
        uc = self._claim(c, role["user_claim"])
        if isinstance(uc, (int, float)) and not isinstance(uc, bool):
            uc = str(int(uc)) if float(uc).is_integer() else str(uc)
        if not isinstance(uc, str) or not uc:
            return errors(400, ['"%s" claim not found in token' % role["user_claim"]])
        meta = {"role": role_name}
        for claim, key in role["claim_mappings"].items():
            v = self._claim(c, claim)
            if isinstance(v, (str, int, float, bool)):
                meta[key] = str(v) if not isinstance(v, bool) else str(v).lower()
        display = "%s-%s" % (mount.path[len("auth/"):].replace("/", "-"), uc)
        return self._issue_login_token(ctx, mount, role_name, role, meta, uc, display)

    @staticmethod
    def _claim(c, name):
        if name.startswith("/"):
            cur = c
            for part in name[1:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(cur, dict) or part not in cur:
                    return None
                cur = cur[part]
            return cur
        return c.get(name)

    # ---------------------------------------------------------------- KV
    def kv_route(self, ctx, mount):
        sub = ctx.path[len(mount.path) + 1:] if ctx.path != mount.path else ""
        op = ctx.op
        if not mount.kv_v2:
            if op == "update":
                cap = "update" if sub.rstrip("/") in mount.kv else "create"
                return cap, lambda c: self.kv1(c, mount, sub)
            return self.op_cap(op), lambda c: self.kv1(c, mount, sub)

        head, _, rest = sub.partition("/")
        if head == "data" and "/" in sub:
            if op in ("read", "delete"):
                return op, lambda c: self.kv2_data(c, mount, rest)
            if op == "update":
                exists = mount.kv2_meta(rest) is not None
                return ("update" if exists else "create"), lambda c: self.kv2_data(c, mount,
                                                                                     rest)
            return self.op_cap(op), self.unsupported_op
        if head == "metadata" and "/" in sub:
            if op in ("read", "list", "delete"):
                return op, lambda c: self.kv2_metadata(c, mount, rest)
            if op == "update":
                exists = mount.kv2_meta(rest) is not None
                return ("update" if exists else "create"), \
                    lambda c: self.kv2_metadata(c, mount, rest)
            return self.op_cap(op), self.unsupported_op
        if head in ("delete", "undelete", "destroy") and "/" in sub:
            if op == "update":
                return "update", lambda c: self.kv2_versions(c, mount, head, rest)
            return self.op_cap(op), self.unsupported_op
        if sub == "config":
            if op in ("read", "update"):
                return op, lambda c: self.kv2_config(c, mount)
            return self.op_cap(op), self.unsupported_op

        # §4.2: any other path on a v2 mount -> 404 envelope with a warning.
        verb = {"read": "get", "update": "put", "list": "list", "delete": "delete",
                "patch": "patch"}[op]
        msg = ("Invalid path for a versioned K/V secrets engine. See the API docs for the "
               "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv %s' "
               "for this operation." % verb)
        return self.op_cap(op), lambda c: self.envelope(404, warnings=[msg],
                                                        mount_type=mount.mount_type)

    def kv1(self, ctx, mount, sub):
        st = self.st
        key = sub.strip("/")
        if ctx.op == "read":
            if key not in mount.kv:
                return errors(404, [])
            data = mount.kv[key]
            dur = st.sysview(mount)[0]
            # §4.1: a "ttl" (or "lease") key in the data sets the advisory duration.
            for k in ("ttl", "lease"):
                if isinstance(data, dict) and k in data:
                    try:
                        dur = parse_duration(data[k], dur)
                    except ValueError:
                        pass
                    break
            return self.envelope(data=data, lease_duration=dur, mount_type=mount.mount_type)
        if ctx.op == "list":
            prefix = sub if sub.endswith("/") or not sub else sub + "/"
            if prefix == "/":
                prefix = ""
            keys = _kv_list(mount.kv.keys(), prefix)
            if not keys:
                return errors(404, [])
            return self.envelope(data={"keys": keys}, mount_type=mount.mount_type)
        if ctx.op == "update":
            if not key:
                return errors(405, [UNSUPPORTED_OPERATION])
            if not ctx.data:
                return errors(400, ["missing data fields"])
            mount.kv[key] = ctx.data
            return Resp(204, None)
        if ctx.op == "delete":
            mount.kv.pop(key, None)
            return Resp(204, None)
        return errors(405, [UNSUPPORTED_OPERATION])

    @staticmethod
    def _kv2_vmeta(m, n):
        v = m["versions"][n]
        return {"created_time": rfc3339nano(v["created"]),
                "custom_metadata": m["custom_metadata"],
                "deletion_time": rfc3339nano(v["deletion"]) if v["deletion"] else "",
                "destroyed": v["destroyed"], "version": n}

    def kv2_data(self, ctx, mount, p):
        st = self.st
        p = p.strip("/")
        now = st.now()
        m = mount.kv2_meta(p)
        if ctx.op == "read":
            try:
                want = as_int(ctx.data.get("version"), 0)
            except ValueError:
                return errors(400, ["error converting input for field \"version\""])
            if m is None:
                return errors(404, [])
            n = want or m["current"]
            if n not in m["versions"]:
                return errors(404, [])
            v = m["versions"][n]
            meta = self._kv2_vmeta(m, n)
            if v["destroyed"] or (v["deletion"] is not None and v["deletion"] <= now):
                # §4.2: deleted/destroyed -> 404 with a full envelope, no "errors".
                return self.envelope(404, data={"data": None, "metadata": meta},
                                     mount_type=mount.mount_type)
            return self.envelope(data={"data": v["data"], "metadata": meta},
                                 mount_type=mount.mount_type)
        if ctx.op == "update":
            data = ctx.data.get("data")
            if not isinstance(data, dict):
                return errors(400, ["no data provided"])
            opts = ctx.data.get("options") or {}
            cas = opts.get("cas") if isinstance(opts, dict) else None
            cas_required = mount.kv_cas_required or (m is not None and m["cas_required"])
            if cas is None and cas_required:
                return errors(400, ["check-and-set parameter required for this call"])
            if cas is not None:
                try:
                    cas = as_int(cas)
                except ValueError:
                    return errors(400, ["check-and-set parameter must be an integer"])
                cur = m["current"] if m is not None else 0
                if cas != cur:
                    return errors(400, ["check-and-set parameter did not match the current "
                                        "version"])
            n = mount.kv2_write(p, data, now)
            m = mount.kv2_meta(p)
            if m["delete_version_after"]:
                m["versions"][n]["deletion"] = now + m["delete_version_after"]
            return self.envelope(data=self._kv2_vmeta(m, n), mount_type=mount.mount_type)
        if ctx.op == "delete":
            if m is not None:
                v = m["versions"].get(m["current"])
                if v is not None and not v["destroyed"] and \
                        (v["deletion"] is None or v["deletion"] > now):
                    v["deletion"] = now
            return Resp(204, None)
        return errors(405, [UNSUPPORTED_OPERATION])

    def kv2_versions(self, ctx, mount, action, p):
        st = self.st
        now = st.now()
        try:
            versions = [as_int(x) for x in as_list(ctx.data.get("versions"))]
        except ValueError:
            return errors(400, ['error converting input for field "versions"'])
        if not versions:
            return errors(400, ["no version number provided"])
        m = mount.kv2_meta(p)
        if m is None:
            return Resp(204, None)
        for n in versions:
            v = m["versions"].get(n)
            if v is None:
                continue
            if action == "delete" and not v["destroyed"] and \
                    (v["deletion"] is None or v["deletion"] > now):
                v["deletion"] = now
            elif action == "undelete" and not v["destroyed"]:
                v["deletion"] = None
            elif action == "destroy":
                v["destroyed"] = True
                v["data"] = None
        return Resp(204, None)

    def kv2_metadata(self, ctx, mount, p):
        st = self.st
        now = st.now()
        if ctx.op == "list":
            prefix = p if p.endswith("/") or not p else p + "/"
            if prefix == "/":
                prefix = ""
            keys = _kv_list(mount.kv.keys(), prefix)
            if not keys:
                return errors(404, [])
            return self.envelope(data={"keys": keys}, mount_type=mount.mount_type)
        key = p.strip("/")
        m = mount.kv2_meta(key)
        if ctx.op == "read":
            if m is None:
                return errors(404, [])
            vers = {}
            for n in sorted(m["versions"]):
                vm = self._kv2_vmeta(m, n)
                vers[str(n)] = {"created_time": vm["created_time"],
                                "deletion_time": vm["deletion_time"],
                                "destroyed": vm["destroyed"]}
            data = {"cas_required": m["cas_required"], "created_time": rfc3339nano(m["created"]),
                    "current_version": m["current"], "custom_metadata": m["custom_metadata"],
                    "delete_version_after": "%ds" % m["delete_version_after"]
                    if m["delete_version_after"] else "0s",
                    "max_versions": m["max_versions"], "oldest_version": m["oldest"],
                    "updated_time": rfc3339nano(m["updated"]), "versions": vers}
            return self.envelope(data=data, mount_type=mount.mount_type)
        if ctx.op == "update":
            d = ctx.data
            m = mount.kv2_meta(key, create=True, now=now)
            try:
                if "max_versions" in d:
                    m["max_versions"] = as_int(d["max_versions"])
                if "cas_required" in d:
                    m["cas_required"] = as_bool(d["cas_required"])
                if "delete_version_after" in d:
                    m["delete_version_after"] = parse_duration(d["delete_version_after"])
            except ValueError as e:
                return errors(400, [str(e)])
            if "custom_metadata" in d:
                cm = d["custom_metadata"]
                if cm is not None and not (isinstance(cm, dict) and
                                           all(isinstance(x, str) for x in cm.values())):
                    return errors(400, ["custom_metadata must be a map of strings"])
                m["custom_metadata"] = cm
            m["updated"] = now
            return Resp(204, None)
        if ctx.op == "delete":
            mount.kv.pop(key, None)
            return Resp(204, None)
        return errors(405, [UNSUPPORTED_OPERATION])

    def kv2_config(self, ctx, mount):
        if ctx.op == "read":
            return self.envelope(data={"cas_required": mount.kv_cas_required,
                                       "delete_version_after": "0s",
                                       "max_versions": mount.kv_max_versions},
                                 mount_type=mount.mount_type)
        try:
            if "max_versions" in ctx.data:
                mount.kv_max_versions = as_int(ctx.data["max_versions"])
            if "cas_required" in ctx.data:
                mount.kv_cas_required = as_bool(ctx.data["cas_required"])
        except ValueError as e:
            return errors(400, [str(e)])
        return Resp(204, None)

    # ---------------------------------------------------------------- database
    def db_route(self, ctx, mount):
        sub = ctx.path[len(mount.path) + 1:] if ctx.path != mount.path else ""
        if sub.startswith("creds/") and len(sub) > len("creds/"):
            name = sub[len("creds/"):]
            # §4.4: read-only path; POST/PUT -> 405 (after the ACL check).
            return self.op_cap(ctx.op), (lambda c: self.db_creds(c, mount, name)) \
                if ctx.op == "read" else self.unsupported_op
        return self.op_cap(ctx.op), self.unsupported_path

    def db_creds(self, ctx, mount, name):
        st = self.st
        role = mount.roles.get(name)
        if role is None:
            return errors(400, ["unknown role: %s" % name])
        try:
            ttl, warnings = st.calculate_ttl(mount, 0, role["default_ttl"], 0, role["max_ttl"],
                                             0, st.now())
        except ValueError as e:
            return errors(500, [str(e)])
        t = ctx.token
        username = ("v-%s-%s-%s-%d" % (t.display_name[:8], name[:8], rand_b62(20),
                                       int(st.now())))[:63]
        password = "A1a-" + rand_b62(16)
        le = st.create_lease(ctx.ns, ctx.path, mount, "database", t, ttl, role["default_ttl"],
                             role["max_ttl"], renewable=True, username=username)
        return self.envelope(data={"password": password, "username": username},
                             lease_id=le.id, renewable=True, lease_duration=ttl,
                             warnings=warnings, mount_type=mount.mount_type)

    # ---------------------------------------------------------------- PKI
    def pki_route(self, ctx, mount):
        sub = ctx.path[len(mount.path) + 1:] if ctx.path != mount.path else ""
        if sub.startswith("issue/") and len(sub) > len("issue/"):
            name = sub[len("issue/"):]
            # §4.5: update only; GET -> 405 (after the ACL check).
            return self.op_cap(ctx.op), (lambda c: self.pki_issue(c, mount, name)) \
                if ctx.op == "update" else self.unsupported_op
        return self.op_cap(ctx.op), self.unsupported_path

    def pki_ca(self, ctx, mount, what):
        import vd_x509
        ca = mount.get_ca(self.st.now())
        if what in ("ca/pem", "ca_chain"):
            return Resp(200, ca.pem.encode(), ctype="application/pem-certificate-chain")
        return self.envelope(data={"certificate": ca.pem, "revocation_time": 0,
                                   "serial_number": vd_x509.serial_colon(ca.cert.serial_number)},
                             mount_type=mount.mount_type)

    @staticmethod
    def _name_allowed(role, name):
        if role["allow_any_name"]:
            return True
        if role["allow_localhost"] and name in ("localhost", "localdomain"):
            return True
        for dom in role["allowed_domains"]:
            if role["allow_bare_domains"] and name == dom:
                return True
            if role["allow_subdomains"]:
                base = name[2:] if name.startswith("*.") else name
                if base.endswith("." + dom) or (name.startswith("*.") and base == dom):
                    return True
            if role["allow_glob_domains"] and "*" in dom and glob_match([dom], name):
                return True
        return False

    def pki_issue(self, ctx, mount, name):
        import vd_x509
        st = self.st
        role = mount.roles.get(name)
        if role is None:
            return errors(400, ["unknown role: %s" % name])
        d = ctx.data
        cn = d.get("common_name") or ""
        if not isinstance(cn, str):
            return errors(400, ["common_name must be a string"])
        if not cn and role["require_cn"]:
            return errors(400, ['the common_name field is required, or must be provided in a '
                                'CSR with "use_csr_common_name" set to true, unless '
                                '"require_cn" is set to false'])
        dns, emails, ips = [], [], []
        if cn and not as_bool(d.get("exclude_cn_from_sans"), False):
            try:
                ipaddress.ip_address(cn)
                ips.append(cn)
            except ValueError:
                (emails if "@" in cn else dns).append(cn)
        if cn and "@" not in cn and not self._name_allowed(role, cn):
            try:
                ipaddress.ip_address(cn)
            except ValueError:
                return errors(400, ["common name %s not allowed by this role" % cn])
        for alt in as_list(d.get("alt_names")):
            if "@" in alt:
                emails.append(alt)
                continue
            if not self._name_allowed(role, alt):
                return errors(400, ["subject alternate name %s not allowed by this role"
                                    % alt])
            if alt not in dns:
                dns.append(alt)
        for ip in as_list(d.get("ip_sans")):
            if not role["allow_ip_sans"]:
                return errors(400, ["IP Subject Alternative Names are not allowed in this "
                                    "role, but was provided %s" % ip])
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return errors(400, ["the value %r is not a valid IP address" % ip])
            if ip not in ips:
                ips.append(ip)
        uris = as_list(d.get("uri_sans"))
        fmt = d.get("format") or "pem"
        if fmt not in ("pem", "der", "pem_bundle"):
            return errors(400, ['invalid "format" value'])
        pkf = d.get("private_key_format") or "der"
        if pkf not in ("der", "pem", "pkcs8"):
            return errors(400, ['invalid "private_key_format" value'])
        try:
            req_ttl = parse_duration(d.get("ttl"), 0)
        except ValueError:
            return errors(400, ['error converting input for field "ttl"'])
        sys_default, sys_max = st.sysview(mount)
        ttl = req_ttl or role["ttl"] or sys_default
        max_ttl = role["max_ttl"] or sys_max
        warnings = []
        if ttl > max_ttl and req_ttl:
            warnings.append('TTL "%s" is longer than permitted maxTTL "%s", so maxTTL is '
                            'being used' % (ttl, max_ttl))           # [infer] wording
        ttl = min(ttl, max_ttl)
        ca = mount.get_ca(st.now())
        now = st.now()
        if now + ttl > ca.not_after:
            return errors(400, ["cannot satisfy request, as TTL would result in notAfter "
                                "that is beyond the expiration of the CA certificate"])
        with self.unlocked():
            key, cert = ca.issue(cn, now, ttl, dns=dns, ips=ips, uris=uris, emails=emails,
                                 key_type=role["key_type"], bits=role["key_bits"],
                                 server=role["server_flag"], client=role["client_flag"])
        pkcs8 = pkf == "pkcs8"
        if fmt == "der":
            cpem, capem = vd_x509.cert_der_b64(cert), vd_x509.cert_der_b64(ca.cert)
            kpem = vd_x509.key_der_b64(key, pkcs8)
        else:
            cpem, capem, kpem = vd_x509.cert_pem(cert), ca.pem, vd_x509.key_pem(key, pkcs8)
            if fmt == "pem_bundle":
                cpem = kpem + cpem
        not_after = int(now + ttl)
        data = {"certificate": cpem, "issuing_ca": capem, "ca_chain": [capem],
                "private_key": kpem, "private_key_type": role["key_type"],
                "serial_number": vd_x509.serial_colon(cert.serial_number),
                "expiration": not_after}
        if role["generate_lease"]:
            lttl = max(1, not_after - int(st.now()))
            le = st.create_lease(ctx.ns, ctx.path, mount, "pki", ctx.token, lttl, lttl, lttl,
                                 renewable=False)
            return self.envelope(data=data, lease_id=le.id, renewable=False,
                                 lease_duration=lttl, warnings=warnings,
                                 mount_type=mount.mount_type)
        return self.envelope(data=data, warnings=warnings, mount_type=mount.mount_type)
