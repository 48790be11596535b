#!/usr/bin/env bash
# Deploys under load: runs minisupd with node.toml (or python.toml), puts a
# load on the server (wrk, installed from Debian when missing) and meanwhile
# replaces the servers ROUNDS times with `minisupctl restart --rolling web`
# (or, with PLAIN=1, with a plain stop-then-start `restart`, as supervisord
# does, for comparison). Prints wrk's report: with the rolling restart there
# are no socket errors and no non-2xx answers.
#
# Usage (from anywhere): examples/deploy/deploy.sh [node|python] [ROUNDS]
# Environment: BUILD_DIR (default build), PLAIN=1, CONNECTIONS (default 32).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kind="${1:-node}"
rounds="${2:-5}"
build="${BUILD_DIR:-$root/build}"
case "$kind" in
  node) port=8080 ;;
  python) port=8081 ;;
  *) echo "usage: $0 [node|python] [ROUNDS]" >&2; exit 2 ;;
esac
config="$here/$kind.toml"
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
[ -x "$build/minisupd" ] || TARGETS="minisupd minisupctl" bash "$root/scripts/build.sh"
ctl() { "$build/minisupctl" -c "$config" "$@"; }

log="$(mktemp /tmp/minisup-deploy-XXXXXX.log)"
"$build/minisupd" -c "$config" >"$log" 2>&1 &
minisupd=$!
trap 'kill -TERM $minisupd 2>/dev/null; wait $minisupd 2>/dev/null || true' EXIT
ctl wait web --timeout 20 >/dev/null

restart=(restart --rolling web)
[ "${PLAIN:-0}" = 1 ] && restart=(restart web)
# Until the last deploy is done (SIGINT: wrk stops and reports).
wrk -t2 -c"${CONNECTIONS:-32}" -d600s --latency "http://127.0.0.1:$port/" &
load=$!
sleep 2
for i in $(seq 1 "$rounds"); do
  start=$(date +%s.%N)
  ctl "${restart[@]}" >/dev/null
  awk -v i="$i" -v what="${restart[*]}" -v s="$start" -v e="$(date +%s.%N)" \
    'BEGIN { printf "deploy %d: %s took %.2f s\n", i, what, e - s }' >&2
done
sleep 1
kill -INT $load
wait $load || true
ctl status
echo "minisupd log: $log" >&2
