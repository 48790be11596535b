// A Node.js HTTP server for minisup's held sockets (examples/deploy).
//
// It does not bind anything: minisupd holds the listening socket and hands
// it over as descriptor 3 (LISTEN_FDS=1), so `server.listen({fd: 3})`.
// Several processes (numprocs) and an old and a new version during a
// rolling restart all accept from that one socket.
//
//   GET /          "hello from pid PID, version VERSION"
//   GET /healthz   "ok" (503 while draining)
//   GET /slow?ms=N answers after N ms (a request in flight during a deploy)
//
// SIGTERM (minisupd's stop signal, sent once the new process is ready):
// stop accepting and drain. Node's server.close() also closes idle
// keep-alive connections, and one closed just as its client sends the
// next request is a reset for that client; so idle connections are left
// open and each is closed after its next answer instead ("Connection:
// close"). The process exits once every connection is gone, at the latest
// after DRAIN_SECS.
"use strict";
const http = require("http");

const VERSION = process.env.VERSION || "1";
const DRAIN_SECS = Number(process.env.DRAIN_SECS || "10");
// Without LISTEN_FDS it binds PORT itself, as a server under supervisord
// does (node-own-port.toml: the comparison in bench/deploy.sh).
const HELD = process.env.LISTEN_FDS !== undefined;
if (HELD ? process.env.LISTEN_PID !== String(process.pid) || Number(process.env.LISTEN_FDS) < 1
         : !process.env.PORT) {
  console.error(`not started with a held socket (LISTEN_PID=${process.env.LISTEN_PID}, ` +
                `LISTEN_FDS=${process.env.LISTEN_FDS}, pid ${process.pid}) nor given a PORT`);
  process.exit(3);
}

let draining = false;
const server = http.createServer((req, res) => {
  if (draining) res.setHeader("Connection", "close");
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/healthz") {
    res.statusCode = draining ? 503 : 200;
    res.end(draining ? "draining\n" : "ok\n");
  } else if (url.pathname === "/slow") {
    const ms = Math.min(Number(url.searchParams.get("ms") || "1000"), 60000);
    setTimeout(() => res.end(`slow answer from pid ${process.pid}\n`), ms);
  } else {
    res.end(`hello from pid ${process.pid}, version ${VERSION}\n`);
  }
});
// A request that arrives on a connection during the drain is answered and
// the connection closed (above); an idle one must not be cut.
server.closeIdleConnections = () => {};

server.listen(HELD ? { fd: 3 } : { port: Number(process.env.PORT), host: "127.0.0.1" },
              () => console.log(`listening pid ${process.pid} version ${VERSION}`));

process.on("SIGTERM", () => {
  if (draining) return;
  draining = true;
  console.log(`pid ${process.pid}: SIGTERM, draining`);
  server.close(() => {
    console.log(`pid ${process.pid}: drained, exiting`);
    process.exit(0);
  });
  setTimeout(() => {
    console.log(`pid ${process.pid}: drain took over ${DRAIN_SECS} s, exiting`);
    process.exit(0);
  }, DRAIN_SECS * 1000).unref();
});
