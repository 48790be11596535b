"""A small key-value HTTP service, standard library only.

GET /healthz -> 200 "ok"; PUT /kv/KEY (body = value) -> 204;
GET /kv/KEY -> 200 value, or 404. It listens on 127.0.0.1 on a port the
kernel chooses, writes the port to $APP_STATE_DIR/app.port (default: the
current directory), then prints "listening on http://127.0.0.1:PORT/"
(minisup.toml's readiness probe waits for that line). On SIGTERM it stops
accepting, finishes the requests in flight and exits 0.
"""
import http.server
import os
import signal
import sys
import threading

store = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self._answer(200, b"ok")
        elif self.path.startswith("/kv/"):
            with lock:
                value = store.get(self.path[4:])
            self._answer(404) if value is None else self._answer(200, value)
        else:
            self._answer(404)

    def do_PUT(self):
        if not self.path.startswith("/kv/"):
            self._answer(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            store[self.path[4:]] = body
        self._answer(204)

    def log_message(self, fmt, *args):
        print(fmt % args)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = False  # server_close() waits for requests in flight
    port = server.server_address[1]
    state_dir = os.environ.get("APP_STATE_DIR", ".")
    with open(os.path.join(state_dir, "app.port"), "w") as f:
        f.write(f"{port}\n")

    def on_term(signum, frame):
        # shutdown() waits for serve_forever() to return: not from its thread.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_term)
    print(f"listening on http://127.0.0.1:{port}/")
    server.serve_forever()
    server.server_close()
    print("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
