#!/usr/bin/env bash
# The test command of README.md: installs what is missing, builds, and runs
# every unit and integration test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
# The supervisord-vs-minisup comparison (tests/integration/convert_oracle_test.cc)
# runs Debian's supervisord: installed when missing, without starting its
# service (policy-rc.d denies it; one already there is left as it is).
if ! command -v supervisord >/dev/null 2>&1; then
  echo "test: installing supervisor (for the conversion oracle test)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
    made_policy=1
  fi
  $sudo apt-get update -qq || true
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends supervisor \
    >/dev/null || echo "test: could not install supervisor; the oracle test will be skipped" >&2
  [ -z "$made_policy" ] || $sudo rm -f "$policy"
fi
# The dashboard's end-to-end test (tests/http/dashboard_e2e.py) drives
# Debian's headless Chromium with Selenium, run by Debian's /usr/bin/python3:
# each package installed when missing (the test is skipped without them).
browser_pkgs=()
[ -x /usr/bin/chromium ] || browser_pkgs+=(chromium)
[ -x /usr/bin/chromedriver ] || browser_pkgs+=(chromium-driver)
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import selenium' >/dev/null 2>&1; } ||
  browser_pkgs+=(python3-selenium)
# /metrics is read by a real Prometheus text-format parser (tests/http/parse_metrics.py).
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 ||
  browser_pkgs+=(python3-prometheus-client)
# The examples run as users run them (tests/integration/examples_run_test.cc):
# a Node.js server deployed without a failed request, and the pytest fixture.
command -v node >/dev/null 2>&1 || browser_pkgs+=(nodejs)
/usr/bin/python3 -c 'import pytest' >/dev/null 2>&1 || browser_pkgs+=(python3-pytest)
if [ ${#browser_pkgs[@]} -gt 0 ]; then
  echo "test: installing ${browser_pkgs[*]} (for the dashboard end-to-end test and the examples)" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  [ -n "${apt_updated:-}" ] || $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser_pkgs[@]}" \
    >/dev/null || echo "test: could not install ${browser_pkgs[*]}; the tests needing them will be skipped" >&2
fi
build=${BUILD_DIR:-build}
ctest --test-dir "$build" --output-on-failure -j"${JOBS:-2}" --timeout 180
