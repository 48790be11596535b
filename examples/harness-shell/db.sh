#!/bin/sh
# A stand-in for a database server, in POSIX sh: it owns the data directory
# $DB_DIR, needs a moment to start, then creates state/db.ready, which the
# readiness probe of minisup.toml tests for. On SIGTERM (minisupd's stop
# signal) it writes a clean-shutdown marker, removes the ready file and
# exits 0, as a real server flushes and closes.
#
# HARNESS_BREAK=db makes it never become ready (to see the 125 status).
set -eu

# A fresh, empty database every run. Remove a ready file left by a run that
# was killed first: a stale one would make the probe succeed at once.
rm -rf state
mkdir -p "$DB_DIR"

echo "starting (pid $$)"
sleep 0.3                     # recovery, cache warm-up, ...

shutdown() {
  if [ -n "${sleeper:-}" ]; then kill "$sleeper" 2>/dev/null || :; fi
  rm -f state/db.ready
  date +%s > "$DB_DIR/clean-shutdown"
  echo "shut down cleanly"
  exit 0
}
trap shutdown TERM INT

if [ "${HARNESS_BREAK:-}" != db ]; then
  : > state/db.ready
  echo "ready"
fi

# Wait for the stop signal. `sleep & wait` rather than a plain `sleep`: the
# shell runs the trap as soon as the signal arrives, not when sleep ends.
while :; do
  sleep 60 &
  sleeper=$!
  wait "$sleeper" || :
done
