#!/usr/bin/env python3
"""A stand-in for minisupd's HTTP API, for developing and testing the dashboard.

    mock_api.py --port 9001 --dashboard supervisor/http/dashboard.html [--token-file F]

Serves supervisor/http/dashboard.html at /, and the JSON API of DESIGN.md
("HTTP: dashboard, JSON API, metrics") with fake in-memory processes:
web:0, web:1 (numprocs 2), worker, and ticker (prints "tick N" every 0.3 s
while it runs). start/stop/restart change states after short delays and
answer once done, as minisupd does; every change is an SSE `state` event.

Auth: with --token-file, every request but /healthz needs `Authorization:
Bearer TOKEN` or the session cookie that POST /api/v1/login sets; without,
the API is read-only (can_control false), as minisupd's credential-less TCP
listener. --read-only makes a signed-in session read-only too.

Prints "mock_api listening on 127.0.0.1:PORT" once it accepts connections.
SIGTERM or SIGINT: exits 0.
"""
import argparse
import base64
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COOKIE = "minisup_session"
HISTORY = 200  # events kept for Last-Event-ID


class World:
    """The fake supervisor: processes, their logs and the event history."""

    def __init__(self):
        self.lock = threading.Condition()
        self.seq = 0
        self.events = []  # (seq, dict)
        self.next_pid = 4000
        self.procs = {}
        for name, group in (("web:0", "web"), ("web:1", "web"), ("worker", "worker"),
                            ("ticker", "ticker")):
            self.procs[name] = self._new(name, group)
        # A name with characters that must be escaped, to prove the page does.
        self.procs["<b>x</b>&y"] = self._new("<b>x</b>&y", "<b>x</b>&y")
        for p in self.procs.values():
            self._spawn(p)
            p["state"] = "RUNNING"
        threading.Thread(target=self._ticker, daemon=True).start()

    def _new(self, name, group):
        return {"name": name, "group": group, "state": "STOPPED", "pid": 0, "uptime": None,
                "started_at": None, "exit_code": None, "exit_signal": None,
                "exit_signal_name": None, "exited_at": None, "needed_sigkill": None,
                "stop_duration": None, "description": "", "spawn_error": None, "retry": None,
                "core_dumped": False, "dropped_bytes": 0, "exit_reason": None,
                "tree_processes": None, "tree_rss_bytes": None, "tree_cpu_seconds": None,
                "old": False, "restarts": 0, "ready": False,
                "_log": {"stdout": [], "stderr": []}, "_ticks": 0}

    def _spawn(self, p):
        self.next_pid += 1
        p["pid"] = self.next_pid
        p["started_at"] = time.time()
        p["_log"]["stdout"].append("%s started as pid %d\n" % (p["name"], p["pid"]))
        p["_log"]["stderr"].append("%s: <script>alert(1)</script> on stderr\n" % p["name"])

    def _ticker(self):
        while True:
            time.sleep(0.3)
            with self.lock:
                p = self.procs["ticker"]
                if p["state"] in ("RUNNING", "STARTING", "STOPPING"):
                    p["_ticks"] += 1
                    p["_log"]["stdout"].append("tick %d\n" % p["_ticks"])
                    p["_log"]["stderr"].append("err %d\n" % p["_ticks"])
                    self.lock.notify_all()

    def status(self, p, tree):
        s = {k: v for k, v in p.items() if not k.startswith("_")}
        alive = s["state"] in ("STARTING", "RUNNING", "STOPPING")
        if alive:
            s["uptime"] = time.time() - s["started_at"]
            s["description"] = "pid %d, uptime %s" % (s["pid"], fmt_uptime(s["uptime"]))
            s["ready"] = s["state"] == "RUNNING"
            if tree:
                s["tree_processes"] = 2
                s["tree_rss_bytes"] = 3_500_000 + 1000 * (s["pid"] % 97)
                s["tree_cpu_seconds"] = round(s["uptime"] * 0.01, 2)
        else:
            s["uptime"] = None
            s["ready"] = False
            if s["exit_signal_name"]:
                s["description"] = ("needed SIGKILL" if s["needed_sigkill"] else
                                    "killed by " + s["exit_signal_name"])
            else:
                s["description"] = "Not started"
        return s

    def emit(self, p, frm, to, reason):
        """Records a state change (lock held)."""
        self.seq += 1
        ev = {"event": "state", "seq": self.seq, "process": p["name"], "group": p["group"],
              "from": frm, "to": to, "pid": p["pid"], "exit_code": p["exit_code"],
              "exit_signal": p["exit_signal"], "reason": reason, "time": time.time()}
        self.events.append((self.seq, ev))
        del self.events[:-HISTORY]
        self.lock.notify_all()

    def _set(self, p, to, reason):
        frm = p["state"]
        p["state"] = to
        self.emit(p, frm, to, reason)

    def select(self, name):
        """The processes NAME selects ("web:0", "web" = its group, "web:*")."""
        if name in self.procs:
            return [self.procs[name]]
        group = name[:-2] if name.endswith(":*") else name
        return [p for p in self.procs.values() if p["group"] == group]

    # Actions: blocking until done, as minisupd answers once done.
    def stop(self, p):
        with self.lock:
            if p["state"] not in ("RUNNING", "STARTING", "BACKOFF"):
                return {"name": p["name"], "result": "not_running"}
            self._set(p, "STOPPING", "stop requested")
        time.sleep(0.6)
        with self.lock:
            p["exit_code"], p["exit_signal"], p["exit_signal_name"] = None, 15, "SIGTERM"
            p["exited_at"], p["needed_sigkill"], p["stop_duration"] = time.time(), False, 0.6
            p["exit_reason"] = "killed"
            p["pid"] = 0
            self._set(p, "STOPPED", "stopped")
        return {"name": p["name"], "result": "stopped", "needed_sigkill": False,
                "stop_duration": 0.6, "exit_code": None, "exit_signal": 15, "expected": False}

    def start(self, p):
        with self.lock:
            if p["state"] in ("RUNNING", "STARTING"):
                return {"name": p["name"], "result": "already_started", "message": ""}
            if p["state"] == "STOPPING":
                return {"name": p["name"], "result": "failed", "message": "it is stopping"}
            self._spawn(p)
            self._set(p, "STARTING", "start requested")
        time.sleep(0.8)
        with self.lock:
            self._set(p, "RUNNING", "up for startsecs")
        return {"name": p["name"], "result": "started", "message": ""}

    def restart(self, p):
        stopped = self.stop(p)
        started = self.start(p)
        with self.lock:
            p["restarts"] += 1
        return {"name": p["name"], "result": started["result"], "message": started["message"],
                "needed_sigkill": stopped.get("needed_sigkill", False)}


def fmt_uptime(sec):
    sec = int(sec)
    return "%d:%02d:%02d" % (sec // 3600, sec % 3600 // 60, sec % 60)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "minisup-mock/0.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("mock_api: %s\n" % (fmt % args))

    # --- helpers -------------------------------------------------------------
    def send_json(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_empty(self, code, headers=()):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def error(self, code, err, message, **extra):
        body = {"error": err, "message": message}
        body.update(extra)
        self.send_json(code, body)

    def session(self):
        for part in self.headers.get("Cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == COOKIE and v in self.server.sessions:
                return v
        return None

    def credentials_ok(self):
        token = self.server.token
        auth = self.headers.get("Authorization", "")
        if token is None:
            return False
        if auth.startswith("Bearer "):
            return secrets.compare_digest(auth[7:].strip().encode(), token.encode())
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return False
            return user == "admin" and secrets.compare_digest(pw.encode(), token.encode())
        return False

    def authorized(self):
        if self.server.token is None:
            return True
        return self.session() is not None or self.credentials_ok()

    def can_control(self):
        return self.server.token is not None and not self.server.read_only

    def body_drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    # --- routes --------------------------------------------------------------
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        path = url.path
        if path == "/healthz":
            return self.send_json(200, {"status": "ok"})
        if path in ("/", "/index.html"):
            with open(self.server.dashboard, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; "
                             "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/api/v1/info":
            base = {"version": "0.9-mock", "auth": self.server.auth}
            if not self.authorized():
                return self.error(401, "unauthorized", "sign in first", auth=self.server.auth)
            base.update(signed_in=self.session() is not None, can_control=self.can_control())
            return self.send_json(200, base)
        if not self.authorized():
            return self.error(401, "unauthorized", "sign in first", auth=self.server.auth)
        w = self.server.world
        if path == "/api/v1/programs":
            tree = q.get("tree", ["0"])[0] == "1"
            with w.lock:
                return self.send_json(200, [w.status(p, tree) for p in w.procs.values()])
        if path == "/api/v1/events":
            return self.events()
        if path.startswith("/api/v1/programs/"):
            rest = path[len("/api/v1/programs/"):]
            parts = rest.split("/")
            name = urllib.parse.unquote(parts[0])
            with w.lock:
                procs = w.select(name)
                if not procs:
                    return self.error(404, "no_such_process", "no such process: " + name)
                if len(parts) == 1:
                    tree = q.get("tree", ["0"])[0] == "1"
                    return self.send_json(200, [w.status(p, tree) for p in procs])
            if len(parts) == 2 and parts[1] == "log":
                if len(procs) != 1:
                    return self.error(400, "bad_request", "log needs one process")
                stream = q.get("stream", ["stdout"])[0]
                if stream not in ("stdout", "stderr"):
                    return self.error(400, "bad_request", "stream is stdout or stderr")
                lines = int(q.get("lines", ["100"])[0])
                follow = q.get("follow", ["0"])[0] == "1"
                return self.log(procs[0], stream, lines, follow)
        return self.error(404, "not_found", "no such endpoint: " + path)

    def do_POST(self):
        self.body_drain()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        origin = self.headers.get("Origin")
        if origin is not None and origin != "http://" + self.headers.get("Host", ""):
            return self.error(403, "bad_origin", "Origin does not match Host")
        if path == "/api/v1/login":
            if self.server.token is None:
                return self.error(400, "no_credentials", "no credentials are configured")
            if not self.credentials_ok():
                return self.error(401, "unauthorized", "wrong credentials", auth=self.server.auth)
            sid = secrets.token_hex(16)
            self.server.sessions.add(sid)
            return self.send_empty(204, [("Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict"
                                          % (COOKIE, sid))])
        if path == "/api/v1/logout":
            sid = self.session()
            self.server.sessions.discard(sid)
            return self.send_empty(204, [("Set-Cookie", "%s=; Path=/; Max-Age=0; HttpOnly; "
                                          "SameSite=Strict" % COOKIE)])
        if not self.authorized():
            return self.error(401, "unauthorized", "sign in first", auth=self.server.auth)
        if not self.can_control():
            return self.error(403, "read_only", "this session cannot make changes")
        parts = path[len("/api/v1/programs/"):].split("/") if path.startswith(
            "/api/v1/programs/") else []
        if len(parts) == 2 and parts[1] in ("start", "stop", "restart"):
            w = self.server.world
            name = urllib.parse.unquote(parts[0])
            with w.lock:
                procs = w.select(name)
            if not procs:
                return self.error(404, "no_such_process", "no such process: " + name)
            act = getattr(w, parts[1])
            results = [act(p) for p in procs]
            return self.send_json(200, {"results": results})
        return self.error(404, "not_found", "no such endpoint: " + path)

    # --- streams -------------------------------------------------------------
    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log(self, p, stream, lines, follow):
        w = self.server.world
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with w.lock:
            log = p["_log"][stream]
            pos = len(log)
            first = "".join(log[max(0, pos - lines):] if lines > 0 else [])
        try:
            if first:
                self.chunk(first.encode())
            while follow and not self.server.stopping:
                with w.lock:
                    w.lock.wait(1.0)
                    new = "".join(log[pos:])
                    pos = len(log)
                if new:
                    self.chunk(new.encode())
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def events(self):
        w = self.server.world
        last = self.headers.get("Last-Event-ID")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.chunk(b"retry: 1000\n\n")
            with w.lock:
                pos = w.seq
                if last is not None:
                    try:
                        last = int(last)
                    except ValueError:
                        last = -1
                    oldest = w.events[0][0] if w.events else w.seq + 1
                    if self.server.reset_on_resume:
                        self.chunk(b"event: reset\ndata: {}\n\n")
                    elif 0 <= last <= w.seq and (last >= oldest - 1):
                        pos = last
                    else:
                        self.chunk(b"event: reset\ndata: {}\n\n")
            idle = 0.0
            while not self.server.stopping:
                with w.lock:
                    if w.seq == pos:
                        w.lock.wait(1.0)
                    batch = [e for e in w.events if e[0] > pos]
                    pos = w.seq
                if batch:
                    idle = 0.0
                    out = b"".join(b"event: state\nid: %d\ndata: %s\n\n" % (s, json.dumps(e).encode())
                                   for s, e in batch)
                    self.chunk(out)
                else:
                    idle += 1.0
                    if idle >= 15:
                        idle = 0.0
                        self.chunk(b": keep-alive\n\n")
                if self.server.drop_events_at and time.time() >= self.server.drop_events_at:
                    self.server.drop_events_at = 0
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--dashboard", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "supervisor", "http",
        "dashboard.html"))
    ap.add_argument("--token-file", help="enable token auth with this file's token")
    ap.add_argument("--basic", action="store_true",
                    help="auth is basic (user admin, password = the token)")
    ap.add_argument("--read-only", action="store_true")
    ap.add_argument("--drop-events-after", type=float, default=0,
                    help="end the first event stream after this many seconds (tests reconnects)")
    ap.add_argument("--reset-on-resume", action="store_true",
                    help="answer every Last-Event-ID with a reset event")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    server.world = World()
    server.dashboard = a.dashboard
    server.token = None
    if a.token_file:
        with open(a.token_file) as f:
            server.token = f.read().strip()
    server.auth = "none" if server.token is None else ("basic" if a.basic else "token")
    server.read_only = a.read_only
    server.sessions = set()
    server.stopping = False
    server.verbose = a.verbose
    server.reset_on_resume = a.reset_on_resume
    server.drop_events_at = time.time() + a.drop_events_after if a.drop_events_after else 0

    def stop(signum, frame):
        server.stopping = True
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("mock_api listening on %s:%d" % server.server_address[:2], flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
