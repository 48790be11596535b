#!/bin/sh
# Runs the test suite under minisup and shows its exit status:
#
#   sh examples/harness-shell/run.sh [TEST...]
#
# minisupd comes from $MINISUPD, else the repository's build/minisupd, else
# PATH. The exit status is that of `tests` (see minisup.toml).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${MINISUPD:-}" ]; then
  MINISUPD=minisupd
  [ -x "$here/../../build/minisupd" ] && MINISUPD=$here/../../build/minisupd
fi

"$MINISUPD" -c "$here/minisup.toml" --run tests -- "$@"
status=$?
echo "minisupd --run tests exited with status $status"
exit "$status"
