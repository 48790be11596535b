#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of tests/fuzz/ with clang under
# ASan+UBSan, runs each over the checked-in inputs (tests/fuzz/corpus/T/
# and tests/fuzz/regressions/T/) as a regression test, then fuzzes each for
# FUZZ_SECONDS (default 60) on a copy of its corpus in the build dir, so
# the tree stays clean. Exits non-zero on the first crash, naming the saved
# input.
#
#   bash scripts/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh reply config
#   FUZZ_SECONDS=0 bash scripts/fuzz.sh       # regression run only
#
# Environment: BUILD_DIR (default build-fuzz), FUZZ_SECONDS, FUZZ_JOBS
# (parallel fuzzing processes per target, default 1), FUZZ_PARALLEL
# (targets fuzzed at once, default one per CPU), FUZZ_ARGS (extra
# libFuzzer flags). Installs clang and libFuzzer (Debian: clang,
# libclang-rt-NN-dev) with apt-get when missing; needs root then.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
all_targets=(config request protocol reply http)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

# ---- toolchain -----------------------------------------------------------
bash scripts/deps.sh
has_libfuzzer() {
  command -v clang++ >/dev/null || return 1
  local probe
  probe=$(mktemp -d)
  printf 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }\n' \
    >"$probe/f.cc"
  clang++ -fsanitize=fuzzer,address,undefined "$probe/f.cc" -o "$probe/f" 2>/dev/null
  local rc=$?
  rm -rf "$probe"
  return $rc
}
if ! has_libfuzzer; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # libclang_rt.fuzzer comes with libclang-rt-NN-dev for clang's major NN
  # (Debian 12: clang 14); plain `clang` pulls the default version.
  packages=(clang)
  if command -v clang >/dev/null; then
    major=$(clang -dumpversion | cut -d. -f1)
  else
    major=$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: clang-\([0-9]*\)$/\1/p' | head -1)
  fi
  [ -n "${major:-}" ] && packages+=("libclang-rt-$major-dev")
  echo "fuzz: installing ${packages[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
  has_libfuzzer || { echo "fuzz: clang++ -fsanitize=fuzzer still does not link" >&2; exit 1; }
fi

# ---- build ---------------------------------------------------------------
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINISUP_WERROR=ON \
    -DMINISUP_FUZZ=ON -DMINISUP_SANITIZE=ON -DMINISUP_BUILD_BENCH=OFF >/dev/null
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$build_dir" -j"$(nproc)" "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
dict_args() { [ -f "tests/fuzz/$1.dict" ] && echo "-dict=$root/tests/fuzz/$1.dict" || true; }

crashed() {  # TARGET LOG ARTIFACT_DIR
  echo "fuzz: fuzz_$1 FAILED; its output: $2" >&2
  tail -n 40 "$2" >&2
  local inputs
  inputs=$(ls "$3" 2>/dev/null | sed "s|^|  $3/|" || true)
  if [ -n "$inputs" ]; then
    echo "fuzz: the crashing input was saved as:" >&2
    echo "$inputs" >&2
    echo "fuzz: reproduce with $build_dir/tests/fuzz/fuzz_$1 FILE; once fixed, add the file" \
      "to tests/fuzz/regressions/$1/ so that every later run checks it." >&2
  fi
  exit 1
}

# ---- regression: every checked-in input once -----------------------------
for t in "${targets[@]}"; do
  dirs=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
  artifacts="$root/$build_dir/fuzz/$t/artifacts-regression"
  rm -rf "$artifacts" && mkdir -p "$artifacts"
  log="$root/$build_dir/fuzz/$t/regression.log"
  echo "== fuzz_$t: checked-in inputs (${dirs[*]})"
  "$build_dir/tests/fuzz/fuzz_$t" -runs=0 -artifact_prefix="$artifacts/" "${dirs[@]}" \
    >"$log" 2>&1 || crashed "$t" "$log" "$artifacts"
done

# ---- fuzzing, on a copy of the corpus ------------------------------------
# FUZZ_PARALLEL targets at a time (default: one per CPU), each on one core.
((seconds > 0)) || exit 0
fuzz_one() {  # TARGET
  local t=$1
  local work="$root/$build_dir/fuzz/$t"
  rm -rf "$work/corpus" "$work/artifacts" && mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "tests/fuzz/corpus/$t/." "$work/corpus/"
  local log="$work/fuzz.log"
  echo "== fuzz_$t: ${seconds} s"
  local args=(-max_total_time="$seconds" -artifact_prefix="$work/artifacts/" -print_final_stats=1)
  # shellcheck disable=SC2207
  args+=($(dict_args "$t") ${FUZZ_ARGS:-})
  if ((jobs > 1)); then args+=(-jobs="$jobs" -workers="$jobs"); fi
  (cd "$work" && "$root/$build_dir/tests/fuzz/fuzz_$t" "${args[@]}" "$work/corpus") \
    >"$log" 2>&1 || crashed "$t" "$log" "$work/artifacts"
  {
    echo "== fuzz_$t: done"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+ +DONE' \
      "$log" | sed 's/^/  /' || true
  }
}
parallel=${FUZZ_PARALLEL:-$(nproc)}
running=0
status=0
for t in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n || status=1
    running=$((running - 1))
  fi
  ((status == 0)) || break
  fuzz_one "$t" &
  running=$((running + 1))
done
while ((running > 0)); do
  wait -n || status=1
  running=$((running - 1))
done
((status == 0)) || exit 1
echo "fuzz: no crash"
