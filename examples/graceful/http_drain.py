#!/usr/bin/env python3
"""A small HTTP server that drains in-flight requests on SIGTERM.

Standard library only. Endpoints:
  GET /              answers at once
  GET /slow          answers after SLOW_SECS seconds (default 3);
  GET /slow?secs=N   ... or after N seconds

On SIGTERM (minisupd's stop signal) it
  1. stops accepting: the accept loop ends and the listening socket is
     closed, so new connections are refused;
  2. drains: waits until every request already being served has been
     answered (at most DRAIN_SECS, default 8, which must stay below the
     program's stopwaitsecs so that minisupd never needs SIGKILL);
  3. exits 0 (1 if the drain timed out).

Environment: PORT (default 8080), HOST (default 127.0.0.1), SLOW_SECS,
DRAIN_SECS. Every line goes to stdout, unbuffered, so minisupd's log shows
it as soon as it happens.
"""
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8080"))
SLOW_SECS = float(os.environ.get("SLOW_SECS", "3"))
DRAIN_SECS = float(os.environ.get("DRAIN_SECS", "8"))
NAME = os.environ.get("MINISUP_PROCESS_NAME", "http")


def log(message):
    print(f"{NAME}: {message}", flush=True)


class InFlight:
    """Counts the requests being served; drain() waits for zero."""

    def __init__(self):
        self._count = 0
        self._cond = threading.Condition()

    def __enter__(self):
        with self._cond:
            self._count += 1
        return self

    def __exit__(self, *exc):
        with self._cond:
            self._count -= 1
            self._cond.notify_all()

    def count(self):
        with self._cond:
            return self._count

    def drain(self, timeout):
        """True when every request finished within `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


in_flight = InFlight()


class Handler(BaseHTTPRequestHandler):
    server_version = "http_drain/1"

    def do_GET(self):
        with in_flight:
            url = urlparse(self.path)
            if url.path == "/":
                self.reply(200, "hello\n")
            elif url.path == "/slow":
                secs = float(parse_qs(url.query).get("secs", [SLOW_SECS])[0])
                log(f"/slow: working for {secs:g} s ({in_flight.count()} in flight)")
                time.sleep(secs)
                self.reply(200, f"slow: done after {secs:g} s\n")
                log(f"/slow: answered after {secs:g} s")
            else:
                self.reply(404, "not found\n")

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        log(f"{self.address_string()} {fmt % args}")


def main():
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    # In-flight requests are tracked (and waited for) by InFlight; daemon
    # threads keep a drain that timed out from blocking the exit.
    server.daemon_threads = True

    def on_sigterm(signum, frame):
        log(f"SIGTERM: no longer accepting; draining {in_flight.count()} in-flight request(s)")
        # shutdown() waits for serve_forever() to return, which runs in this
        # (the main) thread: call it from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)
    log(f"listening on http://{HOST}:{PORT} (pid {os.getpid()})")
    server.serve_forever()
    server.socket.close()  # new connections are refused from here on
    if in_flight.drain(DRAIN_SECS):
        log("drained, exiting 0")
        return 0
    log(f"drain timed out after {DRAIN_SECS:g} s with {in_flight.count()} request(s) in flight, exiting 1")
    return 1


if __name__ == "__main__":
    sys.exit(main())
