#!/usr/bin/env bash
# Deploys under load (DESIGN.md "Held sockets and zero-downtime restarts";
# figures in bench/README.md): wrk (Debian's, installed when missing)
# against the Node.js example of examples/deploy at full rate, in four
# phases of one minisupd each:
#   steady      no restart (the baseline latency)
#   rolling     ROUNDS x `minisupctl restart --rolling web`, one after another
#   plain       ROUNDS x `minisupctl restart web` (stop, then start) with the
#               held socket
#   own-port    ROUNDS x `minisupctl restart web` with the server binding its
#               own port, as under supervisord (node-own-port.toml)
# and prints, per phase: requests, requests/s, socket errors (connect, read,
# write, timeout), non-2xx answers, latency p50 and p99.
#
# Usage: bench/deploy.sh [ROUNDS]   (default 20)
# Environment: BUILD_DIR (default build), CONNECTIONS (default 64),
# THREADS (default 2), STEADY_SECS (default 10).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
rounds="${1:-20}"
examples="$root/examples/deploy"
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
command -v node >/dev/null || { echo "bench/deploy.sh needs node (Debian: nodejs)" >&2; exit 2; }
[ -x "$build/minisupd" ] || TARGETS="minisupd minisupctl" bash "$root/scripts/build.sh"
out="$(mktemp -d /tmp/minisup-bench-deploy-XXXXXX)"

# One phase: CONFIG PORT NAME RESTART-ARGS... (none: steady).
phase() {
  local config="$examples/$1" port="$2" name="$3"
  shift 3
  "$build/minisupd" -c "$config" >"$out/$name.minisupd.log" 2>&1 &
  local minisupd=$!
  "$build/minisupctl" -c "$config" wait web --timeout 20 >/dev/null
  wrk -t"${THREADS:-2}" -c"${CONNECTIONS:-64}" -d600s --latency \
    "http://127.0.0.1:$port/" >"$out/$name.wrk" 2>&1 &
  local load=$!
  sleep 1
  local start end
  start=$(date +%s.%N)
  if [ $# -eq 0 ]; then
    sleep "${STEADY_SECS:-10}"
  else
    for _ in $(seq 1 "$rounds"); do "$build/minisupctl" -c "$config" "$@" >/dev/null || true; done
  fi
  end=$(date +%s.%N)
  kill -INT "$load"
  wait "$load" || true
  "$build/minisupctl" -c "$config" shutdown >/dev/null || true
  wait "$minisupd" || true
  summarize "$name" "$out/$name.wrk" "$start" "$end"
}

# One table row from a wrk report.
summarize() {
  awk -v name="$1" -v s="$3" -v e="$4" '
    /requests in/ { requests = $1 }
    /Requests\/sec/ { rate = $2 }
    /Socket errors/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    /Non-2xx/ { non2xx = $NF }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    END {
      printf "%-9s %6.1f s %9s %9s %7d %7d %9s %9s\n", name, e - s, requests, rate,
             errors + 0, non2xx + 0, p50, p99
    }' "$2"
}

printf "%-9s %8s %9s %9s %7s %7s %9s %9s\n" phase time requests req/s errors non2xx p50 p99
phase node.toml 8080 steady
phase node.toml 8080 rolling restart --rolling web
phase node.toml 8080 plain restart web
phase node-own-port.toml 8082 own-port restart web
echo "wrk reports and minisupd logs: $out" >&2
