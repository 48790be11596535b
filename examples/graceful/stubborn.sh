#!/bin/sh
# A program that will not stop on SIGTERM: it logs the signal and carries
# on. Only SIGKILL ends it. Used to show minisupd's escalation after
# stopwaitsecs, and `minisupctl stop --require-graceful` failing.
name="${MINISUP_PROCESS_NAME:-stubborn}"
trap 'echo "$name: SIGTERM received, ignoring it"' TERM
echo "$name: started (pid $$); SIGTERM will be ignored"
while :; do
  sleep 1
done
