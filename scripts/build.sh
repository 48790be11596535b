#!/usr/bin/env bash
# Configures and builds minisup into BUILD_DIR (default: build).
# Environment: BUILD_DIR, SANITIZE=1 (ASan+UBSan), WERROR=1, JOBS (default 2),
# BENCH=0 to skip building the benchmarks, TARGETS (default: everything),
# e.g. TARGETS="minisupd minisupctl".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMINISUP_SANITIZE="${SANITIZE:-0}" -DMINISUP_WERROR="${WERROR:-0}" \
  -DMINISUP_BUILD_BENCH="${BENCH:-1}" >/dev/null
# shellcheck disable=SC2086  # TARGETS is a list of words
cmake --build "$build" -j"${JOBS:-2}" ${TARGETS:+--target $TARGETS}
