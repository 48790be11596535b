#!/bin/sh
# Stand-in for an API server, in POSIX sh. Ready (api.ready, which the
# readiness probe tests for) after a short start; on SIGTERM it drains for
# a second and exits 0. API_CRASH_AFTER=S makes it fail with exit 3 after
# S seconds, to show the container's exit status.
set -u
rm -f api.ready                # never trust a marker left by a killed run
echo "starting (pid $$)"
sleep 0.5
stopping=
trap 'stopping=1' TERM INT
: > api.ready
echo "ready, serving"

ticks=0
while [ -z "$stopping" ]; do
  sleep 0.1 & wait $! || :     # "serving"; `wait` returns at once on SIGTERM
  ticks=$((ticks + 1))
  if [ -n "${API_CRASH_AFTER:-}" ] && [ "$ticks" -ge $((API_CRASH_AFTER * 10)) ]; then
    rm -f api.ready
    echo "fatal: lost the connection to the database" >&2
    exit 3
  fi
done

echo "SIGTERM: draining the requests in flight"
sleep 1
rm -f api.ready
echo "stopped cleanly"
