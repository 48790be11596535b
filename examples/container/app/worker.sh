#!/bin/sh
# Stand-in for a queue worker: jobs of one second each; on SIGTERM it
# finishes the job in hand and exits 0.
set -u
stopping=
trap 'stopping=1' TERM INT
echo "worker $MINISUP_PROCESS_NUM started"
job=0
while [ -z "$stopping" ]; do
  job=$((job + 1))
  sleep 1 & wait $! || :
  # A signal interrupts `wait`, not the job: let it finish.
  while kill -0 $! 2>/dev/null; do wait $! || :; done
done
echo "worker $MINISUP_PROCESS_NUM: SIGTERM after $job jobs, stopping cleanly"
