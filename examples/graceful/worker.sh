#!/bin/sh
# A queue worker that never abandons a unit of work half-done.
#
# At start it takes a lock file (refusing to run if one is already there),
# then does "units of work" of UNIT_SECS seconds each (default 2). On SIGTERM
# it does not stop at once: it finishes the unit in progress, removes its
# lock file and exits 0. A lock file left behind therefore means the worker
# was cut off (e.g. by SIGKILL).
#
# POSIX sh: a trap runs only once the foreground command (`sleep`) has
# returned, so SIGTERM naturally lands between two units. minisupd signals
# only this shell (stopasgroup = false), so the `sleep` of the current unit
# is left to finish.

lock="${LOCK_FILE:-worker.lock}"
unit_secs="${UNIT_SECS:-2}"
name="${MINISUP_PROCESS_NAME:-worker}"

if ! (set -C; echo $$ > "$lock") 2>/dev/null; then
  echo "$name: lock file $lock exists (pid $(cat "$lock" 2>/dev/null)); refusing to start" >&2
  exit 1
fi

stopping=0
trap 'stopping=1; echo "$name: SIGTERM received, finishing unit $unit first"' TERM

echo "$name: started (pid $$), lock $lock taken"
unit=0
while [ "$stopping" = 0 ]; do
  unit=$((unit + 1))
  echo "$name: unit $unit: working for ${unit_secs}s"
  sleep "$unit_secs"
  echo "$name: unit $unit: done"
done

rm -f "$lock"
echo "$name: lock $lock removed, exiting 0 after $unit unit(s)"
exit 0
