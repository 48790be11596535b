#!/usr/bin/python3
"""The HTTP listener's figures (DESIGN.md "HTTP: dashboard, JSON API,
metrics"; README and bench/README.md):

  programs      GET /api/v1/programs with N processes: round trip, median
                and p90 of REPS (a keep-alive connection, as a dashboard's)
  sse delay     a state change -> its SSE event: the event's own `time`
                (when minisupd logged the change) to its arrival, median and
                max over the stops and starts of one process
  idle          minisupd's context switches in 10 s with the listener open,
                no connection and nothing happening (0 = no wakeup)
  rss           minisupd's VmRSS with N processes, with [http] and without
                (libmicrohttpd and GnuTLS are only loaded with [http])

Usage: bench/http_api.py [--build DIR] [--processes N] [--reps R]
Run with Debian's /usr/bin/python3 (standard library only).
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def switches(pid):
    return vm(pid, "voluntary_ctxt_switches") + vm(pid, "nonvoluntary_ctxt_switches")


class Minisupd:
    def __init__(self, build, workdir, processes, http_port):
        self.build, self.dir = build, workdir
        os.makedirs(workdir, exist_ok=True)
        config = os.path.join(workdir, "minisup.toml")
        with open(config, "w") as f:
            f.write('[supervisor]\nloglevel = "warn"\n')
            if http_port:
                f.write(f'[http]\nlisten = "127.0.0.1:{http_port}"\n'
                        'token_file = "token"\n')
                with open(os.path.join(workdir, "token"), "w") as t:
                    t.write("bench-token-0123456789abcdef\n")
            f.write(f'[program.sleeper]\ncommand = "/bin/sleep 3600"\nnumprocs = {processes}\n'
                    'startsecs = 0\nstopwaitsecs = 2\nstdout_logfile = "NONE"\n'
                    'stderr_logfile = "NONE"\n')
            f.write('[program.probe]\ncommand = "/bin/sleep 3600"\nstartsecs = 0\n'
                    'stdout_logfile = "NONE"\nstderr_logfile = "NONE"\n')
        self.config = config
        self.proc = subprocess.Popen([os.path.join(build, "minisupd"), "-c", config],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(workdir, "minisupd.log"), "w"))
        self.ctl([ "wait", "all", "--timeout", "120"])

    def ctl(self, args):
        return subprocess.run([os.path.join(self.build, "minisupctl"), "-c", self.config] + args,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def measure(build, processes, reps):
    out = {}
    work = tempfile.mkdtemp(prefix="minisup-bench-http-")
    port = free_port()
    headers = {"Authorization": "Bearer bench-token-0123456789abcdef",
               "Host": f"127.0.0.1:{port}"}
    try:
        d = Minisupd(build, os.path.join(work, "with"), processes, port)
        time.sleep(1)
        out["rss_with_kb"] = vm(d.proc.pid, "VmRSS")
        before = switches(d.proc.pid)
        time.sleep(10)
        out["idle_switches"] = switches(d.proc.pid) - before

        conn = http.client.HTTPConnection("127.0.0.1", port)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            conn.request("GET", "/api/v1/programs", headers=headers)
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - start) * 1000)
            assert response.status == 200, response.status
        count = len(json.loads(body))
        assert count == processes + 1, count
        times.sort()
        out["programs_ms"] = (statistics.median(times), times[int(len(times) * 0.9)])
        out["programs_bytes"] = len(body)

        # SSE: each state change's event, from its `time` to its arrival.
        events = socket.create_connection(("127.0.0.1", port))
        events.sendall((f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        f"Authorization: {headers['Authorization']}\r\n\r\n").encode())
        events.setblocking(True)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += events.recv(65536)
        buffer = buffer.split(b"\r\n\r\n", 1)[1]
        delays = []

        def read_events():
            nonlocal buffer
            deadline = time.time() + 15
            while len(delays) < 40 and time.time() < deadline:
                chunk = events.recv(65536)
                arrived = time.time()
                if not chunk:
                    break
                buffer += chunk
                for line in buffer.split(b"\n"):
                    if line.startswith(b"data: {"):
                        event = json.loads(line[6:])
                        if event.get("event") == "state":
                            delays.append((arrived - event["time"]) * 1000)
                buffer = buffer[buffer.rfind(b"\n") + 1:]

        reader = threading.Thread(target=read_events)
        reader.start()
        control = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(20):
            action = "stop" if i % 2 == 0 else "start"
            control.request("POST", f"/api/v1/programs/probe/{action}", headers=headers)
            control.getresponse().read()
            time.sleep(0.05)  # one change at a time: each event's own delay
        reader.join()
        events.close()
        out["sse_ms"] = (statistics.median(delays), max(delays), len(delays))
        d.stop()

        plain = Minisupd(build, os.path.join(work, "without"), processes, None)
        time.sleep(1)
        out["rss_without_kb"] = vm(plain.proc.pid, "VmRSS")
        plain.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(root, "build"))
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    r = measure(args.build, args.processes, args.reps)
    n = args.processes + 1
    print(f"| GET /api/v1/programs, {n} processes ({r['programs_bytes']} bytes), round trip "
          f"| median {r['programs_ms'][0]:.2f} ms, p90 {r['programs_ms'][1]:.2f} ms |")
    print(f"| state change -> SSE event ({r['sse_ms'][2]} events) "
          f"| median {r['sse_ms'][0]:.3f} ms, max {r['sse_ms'][1]:.3f} ms |")
    print(f"| minisupd context switches in 10 s idle, listener open | {r['idle_switches']} |")
    print(f"| VmRSS with {n} processes: with [http] / without "
          f"| {r['rss_with_kb'] / 1024:.1f} MB / {r['rss_without_kb'] / 1024:.1f} MB "
          f"(+{(r['rss_with_kb'] - r['rss_without_kb']) / 1024:.1f} MB) |")


if __name__ == "__main__":
    sys.exit(main())
