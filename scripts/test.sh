#!/usr/bin/env bash
# The test command of README.md: installs what is missing, builds, and runs
# every unit and integration test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build=${BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j"${JOBS:-2}" --timeout 180
