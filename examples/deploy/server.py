#!/usr/bin/env python3
"""A Python HTTP server for minisup's held sockets (examples/deploy).

Standard library only. minisupd holds the listening socket and hands it
over as descriptor 3 (LISTEN_FDS=1): the server takes it with
socket.fromfd() instead of binding. Several processes, and an old and a new
version during a rolling restart, all accept from that one socket.

  GET /          "hello from pid PID, version VERSION"
  GET /healthz   "ok"

HTTP/1.0: one request per connection, so a drain never cuts a keep-alive
connection. SIGTERM: stop accepting, answer the requests in flight, exit 0.
"""
import os
import signal
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "1")

if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
    print("not started with a held socket (LISTEN_PID=%s, LISTEN_FDS=%s, pid %d)"
          % (os.environ.get("LISTEN_PID"), os.environ.get("LISTEN_FDS"), os.getpid()),
          file=sys.stderr)
    sys.exit(3)


def held_socket(fd=3):
    """The held socket of descriptor `fd`, whatever its family (IPv4, IPv6, unix)."""
    probe = socket.socket(fileno=os.dup(fd))  # only to learn the family
    family = probe.family
    probe.close()
    return socket.fromfd(fd, family, socket.SOCK_STREAM)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/healthz" else (
            "hello from pid %d, version %s\n" % (os.getpid(), VERSION)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # quiet: a deploy under load logs nothing per request
        pass


server = ThreadingHTTPServer(("", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = held_socket()
# The socket is shared: when another process accepts the connection this
# one was woken for, accept() blocks. A receive timeout (which accept()
# honours) bounds that wait, so that a drain is never stuck in accept().
# It is a property of the shared socket, like O_NONBLOCK, but harmless to
# the processes sharing it (all run this loop, and a timed-out accept() is
# an OSError that serve_forever() shrugs off), while O_NONBLOCK would turn
# a blocking accept() elsewhere into an error.
server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 500000))
server.daemon_threads = False  # server_close() waits for the requests in flight


def on_term(signum, frame):
    print("pid %d: SIGTERM, draining" % os.getpid(), flush=True)
    # shutdown() waits for serve_forever() to return: not from its own thread.
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, on_term)
print("listening pid %d version %s" % (os.getpid(), VERSION), flush=True)
server.serve_forever(poll_interval=0.2)
server.server_close()  # joins the handler threads: the drain
print("pid %d: drained, exiting" % os.getpid(), flush=True)
