#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""vaultdev: a small Vault-API-compatible dev server for vaultmount's tests,
demo and benchmarks. See README.md in this directory.

Run with Debian's interpreter (it has python3-cryptography):
    /usr/bin/python3 test/vaultdev/vaultdev.py --ready-file /tmp/vd/ready.json
"""

import argparse
import copy
import re
import fnmatch
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vd_api  # noqa: E402
import vd_state  # noqa: E402
from vd_state import ConfigError  # noqa: E402
from vd_util import parse_duration  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(HERE, "default-config.json")


_SECRETISH = re.compile(r"(?:hv[sbr]|[sb])\.[A-Za-z0-9._-]{16,}|eyJ[A-Za-z0-9_-]{8,}[A-Za-z0-9._-]*")


def redact(text):
    """Belt and braces for log lines: anything shaped like a Vault token or a
    JWT (e.g. a client that put one in a URL) is replaced."""
    return _SECRETISH.sub("<redacted>", text)


def log(msg):
    # One write per line. Only method/path/status and lifecycle lines go here:
    # never a token, JWT or secret value.
    try:
        sys.stderr.write("vaultdev: %s\n" % msg)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# ------------------------------------------------------------------------ faults

RESPONSE_FAULTS = ("status", "rate_limit", "sealed", "error", "bad_gateway", "precondition",
                   "redirect", "drop", "garbage", "truncate", "slow_body")
FAULT_TYPES = RESPONSE_FAULTS + ("latency",)


class Fault:
    def __init__(self, fid, spec):
        t = spec.get("type")
        if t not in FAULT_TYPES:
            raise ConfigError("fault type must be one of %s" % ", ".join(FAULT_TYPES))
        self.id = fid
        self.type = t
        self.spec = dict(spec)
        c = spec.get("count")
        self.count = None if c is None else int(c)
        if self.count is not None and self.count <= 0:
            raise ConfigError("count must be positive (or null for until cleared)")
        self.skip = int(spec.get("skip", 0) or 0)
        m = spec.get("method")
        self.methods = None if not m else [x.upper() for x in ([m] if isinstance(m, str) else m)]
        self.path = spec.get("path")
        self.listener = spec.get("listener")
        if t == "redirect" and not spec.get("location"):
            raise ConfigError("redirect needs a location")
        if t == "status" and not isinstance(spec.get("status"), int):
            raise ConfigError("status fault needs an integer status")
        self.hits = 0

    def matches(self, method, path, listener):
        if self.listener and self.listener != listener:
            return False
        if self.methods and method not in self.methods:
            return False
        if self.path and not (fnmatch.fnmatchcase(path, self.path) or path == self.path):
            return False
        return True

    def view(self):
        return {"id": self.id, "type": self.type, "remaining": self.count, "skip": self.skip,
                "hits": self.hits, "spec": self.spec}


# ------------------------------------------------------------------------ application

class App:
    def __init__(self, args, config):
        self.args = args
        self.base_config = config
        self.state = vd_state.State(copy.deepcopy(config))
        self.apply_cli_overrides()
        self.api = vd_api.API(self.state, lambda: self.main_addr)
        self.main_addr = ""
        self.conn_seq = 0
        self.stop = threading.Event()

    def apply_cli_overrides(self):
        st = self.state
        a = self.args
        if a.flavor:
            st.flavor = a.flavor
        if a.max_body:
            st.max_request_size = a.max_body
        for path in a.jwt_pubkey or []:
            ns = st.namespaces[""]
            for m in ns.mounts.values():
                if m.type in ("kubernetes", "jwt"):
                    m.add_keys(["@" + os.path.abspath(path)])

    def reset(self, config=None):
        st = self.state
        with st.lock:
            cfg = copy.deepcopy(config if config is not None else self.base_config)
            new = vd_state.State(cfg)       # validate first; raises ConfigError
            if config is not None:
                self.base_config = config
            st.__dict__.update({k: v for k, v in new.__dict__.items() if k != "lock"})
            st.faults = []
            st.time_offset = 0.0
            self.apply_cli_overrides()

    # faults -------------------------------------------------------------
    def pick_faults(self, method, path, listener):
        """(total latency ms, response fault or None); consumes counts."""
        st = self.state
        latency = 0
        chosen = None
        with st.lock:
            for f in list(st.faults):
                if not f.matches(method, path, listener):
                    continue
                if f.type != "latency" and chosen is not None:
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                f.hits += 1
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        st.faults.remove(f)
                if f.type == "latency":
                    latency += int(f.spec.get("ms", 0))
                else:
                    chosen = f
        return latency, chosen


def fault_response(f, req):
    """The canned response of a response fault, or None for faults that act
    on the real response (truncate, slow_body) or on the socket (drop)."""
    s = f.spec
    t = f.type
    vault_path = req.path[4:] if req.path.startswith("/v1/") else req.path
    hdrs = [(k, str(v)) for k, v in (s.get("headers") or {}).items()]
    if t == "rate_limit":
        # §1.6: body always; Retry-After/X-RateLimit-* only when enabled.
        if s.get("retry_after") is not None:
            hdrs.append(("Retry-After", str(int(s["retry_after"]))))
        if s.get("rate_limit_headers"):
            hdrs += [("X-RateLimit-Limit", str(s.get("limit", 10))),
                     ("X-RateLimit-Remaining", "0"),
                     ("X-RateLimit-Reset", str(int(s.get("retry_after") or 1)))]
        msgs = s.get("errors") or ['request path "%s": rate limit quota exceeded' % vault_path]
        return vd_api.errors(429, msgs, hdrs)
    if t == "sealed":
        return vd_api.errors(503, s.get("errors") or ["Vault is sealed"], hdrs)
    if t == "error":
        return vd_api.errors(500, s.get("errors") or ["internal error"], hdrs)
    if t == "bad_gateway":
        return vd_api.errors(502, s.get("errors") or ["upstream error"], hdrs)
    if t == "precondition":
        # [infer] Enterprise consistency failure wording.
        return vd_api.errors(412, s.get("errors") or ["required index state not present"],
                             hdrs)
    if t == "status":
        st = int(s["status"])
        if "body" in s:
            return vd_api.Resp(st, s["body"].encode(), hdrs)
        return vd_api.errors(st, s.get("errors") or [], hdrs)
    if t == "redirect":
        return vd_api.Resp(int(s.get("status", 307)), b"",
                           hdrs + [("Location", s["location"].rstrip("/") + req.raw_target)])
    if t == "garbage":
        body = s.get("body", "<html><body>garbage, not JSON</body></html>\n")
        return vd_api.Resp(int(s.get("status", 200)), body.encode(), hdrs,
                           ctype=s.get("content_type", "application/json"))
    return None


# ------------------------------------------------------------------------ HTTP plumbing

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, app, listener, tls_ctx=None):
        self.app = app
        self.listener = listener
        self.tls_ctx = tls_ctx
        self._active = 0
        self._active_lock = threading.Lock()
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)
        if tls_ctx is not None:
            self.socket = tls_ctx.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    def process_request(self, request, client_address):
        # Bounded threads: past the cap a new connection is closed at once.
        with self._active_lock:
            if self._active >= self.app.args.max_connections:
                full = True
            else:
                full = False
                self._active += 1
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        log("internal error: %s" % exc.__class__.__name__)


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        # Responses go out as header + body writes; without TCP_NODELAY, Nagle
        # plus the peer's delayed ACK would add ~40 ms to every request.
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().setup()

    def send_response(self, code, message=None):
        # Like Go's net/http: a Date header, no Server header.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, fmt, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        # Malformed request lines and the like: a JSON error, then close.
        body = vd_api.errors(code, [message or self.responses.get(code, ("error",))[0]]).body
        self.close_connection = True
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass


class VaultHandler(QuietHandler):
    timeout = 60

    def setup(self):
        app = self.server.app
        self.timeout = app.args.idle_timeout
        super().setup()         # TCP_NODELAY, socket timeout, file objects
        if isinstance(self.request, ssl.SSLSocket):
            # In this connection's thread, so a slow client never blocks accept().
            self.request.do_handshake()
        with app.state.lock:
            app.conn_seq += 1
            self.conn_id = app.conn_seq
            app.state.connections += 1
        self.client_cn = None
        if isinstance(self.request, ssl.SSLSocket):
            try:
                cert = self.request.getpeercert()
                for rdn in (cert or {}).get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            self.client_cn = v
            except (ValueError, OSError):
                pass

    def __getattr__(self, name):
        # Every method (GET, LIST, PATCH, OPTIONS, FOO...) goes to one place, so
        # unknown methods get Vault's 405 rather than http.server's 501.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def handle_expect_100(self):
        # Refuse an oversize body before the client sends it (no 100 Continue).
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n > self.server.app.state.max_request_size:
            entry = {"time": time.time(), "listener": self.server.listener,
                     "method": self.command, "path": self.path.split("?", 1)[0],
                     "connection": self.conn_id, "fault": None, "body_bytes": None}
            self.finish_request(vd_api.errors(413, ["error parsing JSON"]), entry,
                                time.monotonic(), close=True)
            return False
        return super().handle_expect_100()

    def read_body(self, limit):
        """(body, error_status). Reads at most limit bytes."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return None, 400
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    return None, 400
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out), None
                if len(out) + n > limit:
                    return None, 413
                out += self.rfile.read(n)
                self.rfile.readline(8)
        cl = self.headers.get("Content-Length")
        if not cl:
            return b"", None
        try:
            n = int(cl)
            if n < 0:
                raise ValueError()
        except ValueError:
            return None, 400
        if n > limit:
            return None, 413
        data = self.rfile.read(n)
        if len(data) != n:
            return None, 400
        return data, None

    def dispatch(self):
        app = self.server.app
        st = app.state
        t0 = time.monotonic()
        listener = self.server.listener
        path_only = self.path.split("?", 1)[0]
        entry = {"time": time.time(), "listener": listener, "method": self.command,
                 "path": path_only,
                 "query": self.path.split("?", 1)[1] if "?" in self.path else "",
                 "x_vault_request": self.headers.get("X-Vault-Request"),
                 "x_vault_namespace": self.headers.get("X-Vault-Namespace"),
                 "has_token": bool(self.headers.get("X-Vault-Token")),
                 "bearer": (self.headers.get("Authorization") or "")[:7].lower() == "bearer ",
                 "content_type": self.headers.get("Content-Type"),
                 "user_agent": self.headers.get("User-Agent"),
                 "connection": self.conn_id, "client_cert_cn": self.client_cn,
                 "fault": None, "namespace": None, "vault_path": None, "accessor": None}
        body, berr = self.read_body(st.max_request_size)
        entry["body_bytes"] = len(body) if body is not None else None
        if berr is not None:
            self.close_connection = True
            # [infer] Vault maps a too-large or unreadable body to "error parsing JSON".
            resp = vd_api.errors(berr, ["error parsing JSON"])
            self.finish_request(resp, entry, t0, close=True)
            return
        if app.args.require_request_header and not self.headers.get("X-Vault-Request"):
            # [infer] Vault Agent/Proxy wording (facts §1.2: 412 when missing).
            self.finish_request(vd_api.errors(412, ["missing 'X-Vault-Request' header"]),
                                entry, t0)
            return
        req = vd_api.Req(self.command, self.path, self.headers, body,
                         remote=self.client_address[0], listener=listener)
        latency, fault = app.pick_faults(self.command, req.path, listener)
        if latency:
            time.sleep(latency / 1000.0)
        if fault is not None:
            entry["fault"] = fault.type
            if fault.type == "drop":
                self.drop(fault.spec.get("rst", False))
                entry["status"] = 0
                self.record(entry, t0)
                return
            canned = fault_response(fault, req)
            if canned is not None:
                self.finish_request(canned, entry, t0)
                return
        info = {}
        with st.lock:
            st.sweep()
            try:
                resp = app.api.handle(req, info)
            except Exception as e:  # noqa: BLE001 - a bug must not kill the connection thread
                log(redact("handler error on %s %s: %s" % (self.command, path_only,
                                                           e.__class__.__name__)))
                resp = vd_api.errors(500, ["internal error"])
        entry.update({k: info.get(k) for k in ("namespace", "vault_path", "accessor")})
        self.finish_request(resp, entry, t0, fault=fault)

    def drop(self, rst):
        self.close_connection = True
        try:
            if rst:
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def finish_request(self, resp, entry, t0, fault=None, close=False):
        body = resp.body
        status = resp.status
        # Counted before the answer leaves: a client that has its answer must
        # find its request in /admin/counters (tests read them right after).
        entry["status"] = status
        self.record(entry, t0)
        try:
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Type", resp.ctype)
            ns = self.headers.get("X-Vault-Namespace")
            if ns:
                self.send_header("X-Vault-Namespace", ns)
            for k, v in resp.headers:
                self.send_header(k, v)
            no_body = status in (204, 304) or (self.command == "HEAD" and body is None)
            if body is None:
                body = b""
            if not no_body:
                self.send_header("Content-Length", str(len(body)))
            if close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            if no_body or self.command == "HEAD":
                self.end_headers()
            elif fault is not None and fault.type == "truncate":
                self.end_headers()
                n = int(fault.spec.get("bytes", len(body) // 2))
                self.wfile.write(body[:max(0, min(n, len(body) - 1))])
                self.wfile.flush()
                self.drop(False)
            elif fault is not None and fault.type == "slow_body":
                self.end_headers()
                step = max(1, int(fault.spec.get("chunk_size", 16)))
                delay = float(fault.spec.get("delay_ms", 100)) / 1000.0
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    if i + step < len(body):
                        time.sleep(delay)
            else:
                # Header and body in one write (one TLS record, one segment).
                self._headers_buffer.append(b"\r\n" + body)
                self.flush_headers()
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def record(self, entry, t0):
        app = self.server.app
        entry["duration_ms"] = round((time.monotonic() - t0) * 1000.0, 3)
        with app.state.lock:
            app.state.record(entry)
        if not app.args.quiet:
            log(redact("%s %s %s %d" % (entry["listener"], entry["method"], entry["path"],
                                        entry["status"])))


# ------------------------------------------------------------------------ admin API

class AdminError(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


def _need(d, key):
    if key not in d or d[key] in (None, ""):
        raise AdminError(400, "missing %r" % key)
    return d[key]


class AdminHandler(QuietHandler):
    timeout = 60

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def reply(self, status, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def dispatch(self):
        app = self.server.app
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if n > 16 * 1024 * 1024:
                raise AdminError(413, "body too large")
            raw = self.rfile.read(n) if n else b""
            try:
                data = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise AdminError(400, "body is not JSON")
            if not isinstance(data, dict):
                raise AdminError(400, "body must be a JSON object")
            path, _, qs = self.path.partition("?")
            for k, v in urllib.parse.parse_qs(qs).items():
                data.setdefault(k, v[0])
            result = self.route(app, self.command, path.rstrip("/"), data)
            self.reply(200, result if result is not None else {"ok": True})
        except AdminError as e:
            self.reply(e.status, {"error": str(e)})
        except (ConfigError, ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": "%s: %s" % (e.__class__.__name__, e)})
        except Exception as e:  # noqa: BLE001 - report, keep serving
            self.reply(500, {"error": "internal error: %s" % e.__class__.__name__})

    def route(self, app, method, path, d):
        st = app.state
        if path == "/admin/health" and method == "GET":
            return {"ok": True}
        if path == "/admin/shutdown" and method == "POST":
            app.stop.set()
            return {"ok": True}
        if path == "/admin/reset" and method == "POST":
            app.reset(d.get("config"))
            return {"ok": True}
        if path == "/admin/config" and method == "GET":
            return app.base_config
        if path == "/admin/clock":
            with st.lock:
                if method == "POST":
                    if "offset" in d:
                        st.time_offset = float(d["offset"])
                    if "advance" in d:
                        st.time_offset += float(d["advance"])
                st.sweep()
                return {"offset": st.time_offset, "now": st.now()}
        if path == "/admin/counters/reset" and method == "POST":
            with st.lock:
                st.reset_counters()
            return {"ok": True}
        if path == "/admin/counters" and method == "GET":
            with st.lock:
                return {"total": st.total_requests, "connections": st.connections,
                        "requests": [{"method": m, "path": p, "status": s, "count": c}
                                     for (m, p, s), c in sorted(st.req_counts.items())],
                        "tokens": dict(st.token_counts)}
        if path == "/admin/requests" and method == "GET":
            since = int(d.get("since", 0))
            with st.lock:
                return {"last_seq": st.request_seq,
                        "requests": [e for e in st.request_log if e["seq"] > since]}
        if path.startswith("/admin/faults"):
            return self.faults(app, method, path, d)
        with st.lock:
            st.sweep()
            return self.locked_route(app, st, method, path, d)

    def faults(self, app, method, path, d):
        st = app.state
        with st.lock:
            if path == "/admin/faults" and method == "GET":
                return {"faults": [f.view() for f in st.faults]}
            if path == "/admin/faults" and method == "POST":
                specs = d.get("faults") if "faults" in d else [d]
                ids = []
                for spec in specs:
                    st.fault_seq += 1
                    f = Fault(st.fault_seq, spec)
                    st.faults.append(f)
                    ids.append(f.id)
                return {"id": ids[0] if len(ids) == 1 else None, "ids": ids}
            if path == "/admin/faults" and method == "DELETE":
                st.faults = []
                return {"ok": True}
            if path.startswith("/admin/faults/") and method == "DELETE":
                fid = int(path.rsplit("/", 1)[1])
                before = len(st.faults)
                st.faults = [f for f in st.faults if f.id != fid]
                if len(st.faults) == before:
                    raise AdminError(404, "no such fault")
                return {"ok": True}
        raise AdminError(404, "unknown admin endpoint")

    def locked_route(self, app, st, method, path, d):
        def ns():
            return st.get_ns(d.get("namespace", ""))

        if path == "/admin/state":
            if method == "POST":
                for k in ("sealed", "initialized", "standby"):
                    if k in d:
                        setattr(st, k, bool(d[k]))
                if "active_addr" in d:
                    st.active_addr = d["active_addr"] or ""
                if "flavor" in d:
                    if d["flavor"] not in ("vault", "openbao"):
                        raise AdminError(400, "flavor must be vault or openbao")
                    st.flavor = d["flavor"]
                if "default_lease_ttl" in d:
                    st.sys_default_ttl = parse_duration(d["default_lease_ttl"]) or \
                        vd_state.SYSTEM_DEFAULT_TTL
                if "max_lease_ttl" in d:
                    st.sys_max_ttl = parse_duration(d["max_lease_ttl"]) or \
                        vd_state.SYSTEM_DEFAULT_TTL
            return st.overview()
        if path == "/admin/namespaces" and method == "POST":
            n = st.add_namespace(_need(d, "path"))
            return {"path": n.path, "id": n.id}
        if path == "/admin/mounts":
            if method == "POST":
                spec = {k: v for k, v in d.items() if k not in ("namespace", "path")}
                m = st.add_mount(ns(), _need(d, "path"), spec)
                return {"path": m.path, "type": m.type, "accessor": m.accessor}
            if method == "DELETE":
                n = ns()
                if n.mounts.pop(_need(d, "path").strip("/"), None) is None:
                    raise AdminError(404, "no such mount")
                return {"ok": True}
        if path == "/admin/mounts/tune" and method == "POST":
            m = st.get_mount(ns(), _need(d, "path"))
            if "default_lease_ttl" in d:
                m.default_lease_ttl = parse_duration(d["default_lease_ttl"])
            if "max_lease_ttl" in d:
                m.max_lease_ttl = parse_duration(d["max_lease_ttl"])
            return {"default_lease_ttl": m.default_lease_ttl, "max_lease_ttl": m.max_lease_ttl}
        if path == "/admin/roles":
            m = st.get_mount(ns(), _need(d, "mount"))
            name = _need(d, "name")
            if method == "POST":
                m.set_role(name, _need(d, "role"))
                return {"ok": True, "role": m.roles[name]}
            if method == "DELETE":
                if m.roles.pop(name, None) is None:
                    raise AdminError(404, "no such role")
                return {"ok": True}
        if path == "/admin/auth-config" and method == "POST":
            m = st.get_mount(ns(), _need(d, "mount"))
            if not m.is_auth:
                raise AdminError(400, "not an auth mount")
            m.set_config(d.get("config"), replace=bool(d.get("replace", False)))
            return {"ok": True}
        if path == "/admin/jwt-keys" and method == "POST":
            n = ns()
            pems = _need(d, "pem")
            mounts = [st.get_mount(n, d["mount"])] if d.get("mount") else \
                [m for m in n.mounts.values() if m.type in ("kubernetes", "jwt")]
            for m in mounts:
                if m.type not in ("kubernetes", "jwt"):
                    raise AdminError(400, "not a kubernetes/jwt auth mount")
                m.add_keys(pems, replace=bool(d.get("replace", False)))
            return {"mounts": [m.path for m in mounts],
                    "keys": {m.path: len(m.keys) for m in mounts}}
        if path == "/admin/policies":
            n = ns()
            name = _need(d, "name")
            if method == "POST":
                st.set_policy(n, name, _need(d, "policy"))
                return {"ok": True}
            if method == "DELETE":
                if n.policies.pop(name, None) is None:
                    raise AdminError(404, "no such policy")
                return {"ok": True}
        if path == "/admin/secrets":
            return self.secrets(st, method, ns(), d)
        if path == "/admin/tokens":
            if method == "POST":
                n = ns()
                t, warnings = st.create_token(
                    n, d.get("policies") or [], ttl=parse_duration(d.get("ttl"), 0) or None,
                    max_ttl=parse_duration(d.get("max_ttl"), 0),
                    explicit_max_ttl=parse_duration(d.get("explicit_max_ttl"), 0),
                    period=parse_duration(d.get("period"), 0),
                    renewable=bool(d.get("renewable", True)),
                    num_uses=int(d.get("num_uses", 0)), meta=d.get("metadata"),
                    display_name=d.get("display_name", "token"),
                    no_default=bool(d.get("no_default_policy", False)),
                    token_id=d.get("id"))
                return {"token": t.id, "accessor": t.accessor, "ttl": t.ttl,
                        "policies": t.policies, "warnings": warnings}
            if method == "GET":
                toks = [st.token_view(t) for t in st.tokens.values()]
                if d.get("accessor"):
                    toks = [t for t in toks if t["accessor"] == d["accessor"]]
                return {"tokens": toks}
        if path in ("/admin/tokens/revoke", "/admin/tokens/expire") and method == "POST":
            t = st.by_accessor.get(_need(d, "accessor"))
            if t is None:
                raise AdminError(404, "no such token")
            if path.endswith("revoke"):
                st.revoke_token(t, "revoked")
            else:
                t.expire_time = st.now()
                st.note_expiry(t.expire_time)
                st.sweep()
            return st.token_view(t)
        if path == "/admin/leases" and method == "GET":
            les = [st.lease_view(le) for le in st.leases.values()]
            if d.get("owner"):
                les = [x for x in les if x["owner_accessor"] == d["owner"]]
            if d.get("prefix"):
                les = [x for x in les if x["lease_id"].startswith(d["prefix"])]
            return {"leases": les}
        if path in ("/admin/leases/revoke", "/admin/leases/expire") and method == "POST":
            le = st.leases.get(_need(d, "lease_id"))
            if le is None:
                raise AdminError(404, "no such lease")
            if path.endswith("revoke"):
                st.revoke_lease(le, "revoked")
            else:
                le.expire_time = st.now()
                st.note_expiry(le.expire_time)
                st.sweep()
            return st.lease_view(le)
        raise AdminError(404, "unknown admin endpoint")

    def secrets(self, st, method, n, d):
        m = st.get_mount(n, _need(d, "mount"))
        if m.type != "kv":
            raise AdminError(400, "not a kv mount")
        p = _need(d, "path").strip("/")
        now = st.now()
        if method == "POST":
            data = _need(d, "data")
            if not isinstance(data, dict):
                raise AdminError(400, "data must be an object")
            if m.kv_v2:
                v = m.kv2_write(p, data, now, custom_metadata=d.get("custom_metadata"))
                return {"version": v}
            m.kv[p] = data
            return {"ok": True}
        if method == "GET":
            if p not in m.kv:
                raise AdminError(404, "no such secret")
            if not m.kv_v2:
                return {"data": m.kv[p]}
            meta = m.kv[p]
            return {"current_version": meta["current"], "versions": {
                str(k): {"data": v["data"], "created": v["created"], "deletion": v["deletion"],
                         "destroyed": v["destroyed"]} for k, v in meta["versions"].items()}}
        if method == "DELETE":
            versions = d.get("versions")
            if not m.kv_v2 or not versions:
                if m.kv.pop(p, None) is None:
                    raise AdminError(404, "no such secret")
                return {"ok": True}
            meta = m.kv2_meta(p)
            if meta is None:
                raise AdminError(404, "no such secret")
            for k in versions:
                v = meta["versions"].get(int(k))
                if v is None:
                    continue
                if d.get("destroy"):
                    v["destroyed"] = True
                    v["data"] = None
                else:
                    v["deletion"] = now
            return {"ok": True}
        raise AdminError(404, "unknown admin endpoint")


# ------------------------------------------------------------------------ startup

def make_tls(args, tmpdir):
    import vd_x509
    now = time.time()
    ca = vd_x509.CA("vaultdev CA", now, args.tls_key_type)
    key = vd_x509.gen_key(args.tls_key_type)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    import ipaddress
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]
    for s in args.san or []:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            sans.append(x509.DNSName(s))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(vd_x509._dt(now - 60))
            .not_valid_after(vd_x509._dt(now + 30 * 86400))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    cpath = os.path.join(tmpdir, "server.pem")
    kpath = os.path.join(tmpdir, "server.key")
    with open(cpath, "w") as f:
        f.write(vd_x509.cert_pem(cert) + ca.pem)
    fd = os.open(kpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(vd_x509.key_pem(key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cpath, kpath)
    os.unlink(kpath)
    os.unlink(cpath)
    ctx.set_alpn_protocols(["http/1.1"])
    if args.client_ca_file:
        ctx.load_verify_locations(args.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_OPTIONAL
    write_atomic(args.ca_file, ca.pem)
    return ctx


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".vaultdev-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parse_args(argv):
    p = argparse.ArgumentParser(prog="vaultdev", description="Vault-API-compatible dev server")
    p.add_argument("--config", help="JSON config file (default: default-config.json here)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (loopback)")
    p.add_argument("--port", type=int, default=0, help="API port (0 = pick a free one)")
    p.add_argument("--admin-port", type=int, default=0, help="admin port (0 = free)")
    p.add_argument("--standby-port", type=int, default=-1,
                   help="also run a standby listener that 307s to the main one "
                        "(0 = free port; default off)")
    p.add_argument("--http", action="store_true", help="plain http instead of https")
    p.add_argument("--ca-file", help="where to write the CA certificate PEM "
                                     "(default: next to the ready file)")
    p.add_argument("--san", action="append", help="extra DNS/IP SAN for the server cert")
    p.add_argument("--tls-key-type", choices=("ec", "rsa"), default="ec")
    p.add_argument("--client-ca-file", help="CA bundle for client certificates (mTLS)")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--ready-file", help="JSON written atomically once the sockets accept")
    p.add_argument("--jwt-pubkey", action="append",
                   help="PEM public key file added to every kubernetes/jwt auth mount of "
                        "the root namespace (repeatable)")
    p.add_argument("--flavor", choices=("vault", "openbao"), help="override config flavor")
    p.add_argument("--max-body", type=int, help="max request body bytes (default 32 MiB)")
    p.add_argument("--idle-timeout", type=float, default=60.0,
                   help="keep-alive idle timeout in seconds")
    p.add_argument("--max-connections", type=int, default=512,
                   help="concurrent connections per listener (one thread each)")
    p.add_argument("--require-request-header", action="store_true",
                   help="answer 412 when X-Vault-Request is missing, like Vault Agent/Proxy "
                        "with require_request_header")
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.http and not args.ca_file:
        base = os.path.dirname(os.path.abspath(args.ready_file)) if args.ready_file \
            else tempfile.mkdtemp(prefix="vaultdev-")
        args.ca_file = os.path.join(base, "vaultdev-ca.pem")
    try:
        config = vd_state.load_config_file(args.config or DEFAULT_CONFIG)
        app = App(args, config)
    except (ConfigError, OSError) as e:
        log("config error: %s" % e)
        return 2

    tmpdir = tempfile.mkdtemp(prefix="vaultdev-tls-")
    try:
        tls_ctx = None if args.http else make_tls(args, tmpdir)
    finally:
        os.rmdir(tmpdir)
    scheme = "http" if args.http else "https"
    host_in_url = "[%s]" % args.host if ":" in args.host else args.host

    main_srv = Server((args.host, args.port), VaultHandler, app, "main", tls_ctx)
    app.main_addr = "%s://%s:%d" % (scheme, host_in_url, main_srv.server_address[1])
    admin_srv = Server((args.host, args.admin_port), AdminHandler, app, "admin")
    servers = [main_srv, admin_srv]
    standby_addr = None
    if args.standby_port >= 0:
        sb = Server((args.host, args.standby_port), VaultHandler, app, "standby", tls_ctx)
        standby_addr = "%s://%s:%d" % (scheme, host_in_url, sb.server_address[1])
        servers.append(sb)

    threads = []
    for s in servers:
        th = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
        th.start()
        threads.append(th)

    def on_signal(signum, frame):
        app.stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ready = {"addr": app.main_addr,
             "admin_addr": "http://%s:%d" % (host_in_url, admin_srv.server_address[1]),
             "ca_file": None if args.http else os.path.abspath(args.ca_file),
             "pid": os.getpid(), "scheme": scheme,
             "port": main_srv.server_address[1], "admin_port": admin_srv.server_address[1],
             "standby_addr": standby_addr}
    # The listening sockets were bound and listen()ed in the constructors, so
    # connections are accepted from here on.
    if args.ready_file:
        write_atomic(args.ready_file, json.dumps(ready, indent=1, sort_keys=True) + "\n")
    sys.stdout.write("vaultdev ready %s\n" % app.main_addr)
    sys.stdout.flush()
    log("listening on %s (admin %s%s)" % (app.main_addr, ready["admin_addr"],
                                          ", standby %s" % standby_addr if standby_addr else ""))

    while not app.stop.wait(0.5):
        pass
    log("shutting down")
    for s in servers:
        s.shutdown()
    for s in servers:
        s.server_close()
    if args.ready_file:
        try:
            os.unlink(args.ready_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
