#!/usr/bin/env bash
# The run command of README.md: installs what is missing, builds, and runs
# minisupd in the foreground on examples/minisup.toml (Ctrl-C stops it
# gracefully). Extra arguments go to minisupd, e.g. --check.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="minisupd minisupctl" bash scripts/build.sh  # the programs, not the tests
exec "${BUILD_DIR:-build}/minisupd" -c examples/minisup.toml "$@"
