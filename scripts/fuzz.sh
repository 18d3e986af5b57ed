#!/usr/bin/env bash
# The libFuzzer harnesses of tests/fuzz (docs/user-guide.md, "Fuzzing and sanitizers").
#   scripts/fuzz.sh build              clang build of every harness in build-fuzz/ (instrumented:
#                                      coverage, ASan, UBSan), installing clang when missing
#   scripts/fuzz.sh run NAME SECONDS   fuzz one harness (libsvm phoenix config specs hdf5) for
#                                      SECONDS of wall time at low priority, then merge what it
#                                      found that adds coverage, minimised, into tests/fuzz/corpus/NAME
#   scripts/fuzz.sh list               the harness names
# Crashes, leaks and timeouts are written to build-fuzz/fuzz-work/NAME/artifacts/ and make `run`
# exit 1. A fixed crash's input belongs in tests/fuzz/corpus/NAME (a descriptive name), so that
# test_fuzz_NAME replays it in every build. SARSCALE_FUZZ_DIR overrides the build directory.
set -euo pipefail
source "$(dirname "$0")/env.sh"

FUZZ_BUILD="${SARSCALE_FUZZ_DIR:-$SARSCALE_ROOT/build-fuzz}"
CORPORA="$SARSCALE_ROOT/tests/fuzz/corpus"
harnesses=(libsvm phoenix config specs hdf5)

build() {
  "$SARSCALE_ROOT/scripts/install-deps.sh" --with-fuzz
  if [[ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    CC=clang CXX=clang++ cmake -S "$SARSCALE_ROOT" -B "$FUZZ_BUILD" "${generator[@]}" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSARSCALE_FUZZ=ON -DSARSCALE_BUILD_BENCH=OFF >/dev/null
  fi
  cmake --build "$FUZZ_BUILD" --parallel "$(nproc)" --target "${harnesses[@]/#/fuzz_}"
}

run() {
  local name="$1" seconds="$2"
  local exe="$FUZZ_BUILD/fuzz/fuzz_$name" work="$FUZZ_BUILD/fuzz-work/$name"
  [[ -x "$exe" ]] || { echo "fuzz.sh: $exe is not built (scripts/fuzz.sh build)" >&2; exit 2; }
  [[ -d "$CORPORA/$name" ]] || { echo "fuzz.sh: no corpus $CORPORA/$name" >&2; exit 2; }
  mkdir -p "$work/new" "$work/artifacts"
  local dict=()
  [[ -f "$SARSCALE_ROOT/tests/fuzz/$name.dict" ]] && dict=(-dict="$SARSCALE_ROOT/tests/fuzz/$name.dict")
  # Open MPI (the hdf5 harness) keeps its own allocations to the end: those libraries alone are
  # suppressed (tests/sanitizers/lsan.supp); every other leak is a finding.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
  # (fuzz_hdf5 adds libhdf5's leaks on damaged files through __lsan_default_suppressions.)
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$SARSCALE_ROOT/tests/sanitizers/lsan.supp:print_suppressions=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export OMP_NUM_THREADS=1
  local status=0
  # -rss_limit_mb: a reader that allocates what a mutated size field declares is a finding.
  # -timeout is wall time (SIGALRM): 60 s, because a fuzzer at low priority on a machine busy with
  # builds is starved for seconds at a time, and 10 s made it stop on inputs that replay in 25 ms.
  nice -n "${SARSCALE_FUZZ_NICE:-19}" "$exe" "${dict[@]}" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
    -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/new" "$CORPORA/$name" \
    2>&1 | tee "$work/log.txt" | grep -E "^#[0-9]+ +(INITED|DONE)|ERROR|SUMMARY|stat::|Done [0-9]+ runs" || true
  grep -q -E "^==[0-9]+==ERROR|SUMMARY: (Address|Undefined|Leak)|deadly signal|ALARM: working on the last Unit" \
    "$work/log.txt" && status=1
  # Keep only what adds coverage to the committed corpus, minimised.
  local before
  before=$(find "$CORPORA/$name" -type f | wc -l)
  nice -n "${SARSCALE_FUZZ_NICE:-19}" "$exe" -merge=1 -timeout=60 -rss_limit_mb=2048 "$CORPORA/$name" "$work/new" >/dev/null 2>&1 || true
  echo "fuzz.sh: $name: corpus $before -> $(find "$CORPORA/$name" -type f | wc -l) files; log $work/log.txt"
  ls "$work/artifacts" | grep -q . && { echo "fuzz.sh: $name: findings in $work/artifacts" >&2; status=1; }
  return $status
}

case "${1:-}" in
  build) build ;;
  run) [[ $# -eq 3 ]] || { echo "usage: $0 run NAME SECONDS" >&2; exit 2; }; run "$2" "$3" ;;
  list) printf '%s\n' "${harnesses[@]}" ;;
  *) echo "usage: $0 build | run NAME SECONDS | list" >&2; exit 2 ;;
esac
