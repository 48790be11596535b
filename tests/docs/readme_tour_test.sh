#!/usr/bin/env bash
# README.md's five-minute tour, typed as written. The ```sh blocks between
# `<!-- tour:begin -->` and `<!-- tour:end -->` run one after the other in
# one bash (so `export` and `cd` carry over), from a copy of the repository
# root holding examples/tour/ and build/ (a link to BUILD_DIR). The ```text
# block that follows a ```sh block is its output as README shows it: each
# must match what the commands printed once pids, times, dates and job
# numbers are masked. Then the points of the tour are checked on the real
# output: the graceful stop waited for the job in progress and ended with
# exit status 0; the second stop needed SIGKILL at stopwaitsecs (2 s).
# Usage: readme_tour_test.sh BUILD_DIR [SOURCE_DIR]
set -uo pipefail
build=$(cd "$1" && pwd)
src=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ ! -x /usr/bin/python3 ]; then
  echo "SKIP: the tour's worker needs /usr/bin/python3"
  exit 77
fi
for binary in minisupd minisupctl; do
  [ -x "$build/$binary" ] || { echo "FAIL: no $build/$binary (build it first)"; exit 1; }
done
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

dir=$(mktemp -d)
repo=$dir/repo
cleanup() {
  # A tour that failed half-way may leave its minisupd running.
  [ -S "$repo/examples/tour/minisup.sock" ] &&
    timeout 20 "$build/minisupctl" -s "$repo/examples/tour/minisup.sock" shutdown >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$repo/examples"
cp -r "$src/examples/tour" "$repo/examples/"
rm -rf "$repo/examples/tour/logs" "$repo/examples/tour/minisupd.log" "$repo/examples/tour/"*.sock
ln -s "$build" "$repo/build"

# Blocks: block<N>.sh and, when one follows it, block<N>.expected.
awk -v out="$dir" '
  /<!-- tour:begin -->/ { on = 1; next }
  /<!-- tour:end -->/ { on = 0; next }
  !on { next }
  /^```sh$/ { n++; mode = "sh"; file = out "/block" n ".sh"; printf "" > file; next }
  /^```text$/ {
    if (n == 0) { print "a text block before any sh block" > "/dev/stderr"; exit 1 }
    mode = "text"; file = out "/block" n ".expected"; next
  }
  /^```/ { mode = ""; next }
  mode != "" { print > file }
  END { print n + 0 > (out "/count") }
' "$src/README.md" || fail "could not read the tour's blocks"
count=$(cat "$dir/count")
[ "$count" -ge 3 ] || fail "README.md's tour has $count sh blocks between the tour markers"

# One script: a marker line before each block's commands.
for i in $(seq 1 "$count"); do
  echo "echo '@@ block $i @@'"
  cat "$dir/block$i.sh"
done >"$dir/tour.sh"
(cd "$repo" && timeout 120 bash "$dir/tour.sh") >"$dir/output" 2>&1
status=$?
[ "$status" = 0 ] || fail "the tour's commands exited $status"
awk -v out="$dir" '/^@@ block [0-9]+ @@$/ { file = out "/block" $3 ".actual"; printf "" > file; next }
  file != "" { print > file }' "$dir/output"

mask() {
  sed -E -e 's/pid [0-9]+/pid N/g' \
    -e 's/uptime [0-9]+:[0-9]{2}:[0-9]{2}/uptime H:MM:SS/g' \
    -e 's/[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}/MON DD HH:MM:SS/g' \
    -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+/YYYY-MM-DD HH:MM:SS.mmm/g' \
    -e 's/[0-9]+(\.[0-9]+)? s\b/N s/g' \
    -e 's/job [0-9]+/job N/g' -e 's/after [0-9]+ jobs/after N jobs/g' "$1"
}
for i in $(seq 1 "$count"); do
  [ -f "$dir/block$i.expected" ] || continue
  if ! diff <(mask "$dir/block$i.expected") <(mask "$dir/block$i.actual") >"$dir/diff$i"; then
    fail "block $i: the output differs from README.md's (< README, > real, masked):"
    sed 's/^/    /' "$dir/diff$i"
    echo "  block $i's commands:"
    sed 's/^/    /' "$dir/block$i.sh"
  fi
done

# The points of the tour, on the real output.
out=$dir/output
grep -qx 'worker: stopped' "$out" || fail "no 'worker: stopped'"
grep -Eq '^worker +STOPPED +exited with status 0 after [0-9.]+ s, ' "$out" ||
  fail "worker's status does not say 'exited with status 0 after ... s'"
# The job in progress at the SIGTERM finished before the exit.
awk '/^SIGTERM: finishing job [0-9]+ first$/ { job = $4 }
  job != "" && $0 == "job " job ": done" { done = 1 }
  done && $0 ~ "^exiting 0 after " job " jobs$" { ok = 1 }
  END { exit !ok }' "$out" ||
  fail "worker's log does not show the job in progress finishing after SIGTERM, then exit 0"
grep -Eqx 'slow: stopped \(needed SIGKILL after 2\.[0-9] s\)' "$out" ||
  fail "no 'slow: stopped (needed SIGKILL after 2.x s)'"
grep -qx 'exit code 1' "$out" || fail "stop --require-graceful of slow did not exit 1"
grep -Eq '^slow +STOPPED +needed SIGKILL after 2\.[0-9] s, ' "$out" ||
  fail "slow's status does not say 'needed SIGKILL after 2.x s'"
# slow's job was cut off: its log (the block that tails it) has no "done".
slow_tail=$(grep -l 'minisupctl tail .*slow' "$dir"/block*.sh | head -1)
if [ -z "$slow_tail" ]; then
  fail "the tour does not tail slow's log"
elif grep -Eq 'done|exiting' "${slow_tail%.sh}.actual"; then
  fail "slow's job finished although it should have been cut off by SIGKILL"
fi
[ -S "$repo/examples/tour/minisup.sock" ] && fail "minisupd still runs after the tour"

if [ "$failures" != 0 ]; then
  echo "--- the tour's whole output:"
  cat "$out"
  echo "$failures failure(s)"
  exit 1
fi
echo "README tour: $count blocks ran, outputs match"
