#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (docs/user-guide.md,
# "Fuzzing and sanitizers"): a separate build (build-asan/, gcc, -fsanitize=address,undefined,
# any UB report fatal) of the libraries, the binary and every test, then ctest on it.
# Usage: scripts/sanitize.sh [ctest arguments]     default: -L 'unit|mpi' (what CI runs)
#   scripts/sanitize.sh -L integration     the end-to-end tests as well (slower: ~3x the normal run)
#   SARSCALE_ASAN_DIR=...                  another build directory
# Exits with ctest's status; a sanitizer report fails the test that triggered it.
set -euo pipefail
source "$(dirname "$0")/env.sh"

ASAN_BUILD="${SARSCALE_ASAN_DIR:-$SARSCALE_ROOT/build-asan}"
"$SARSCALE_ROOT/scripts/install-deps.sh"

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [[ ! -f "$ASAN_BUILD/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  # -O1: the sanitizers' usual level (fast enough to run, far faster to build than -O3).
  cmake -S "$SARSCALE_ROOT" -B "$ASAN_BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" -DCMAKE_C_FLAGS_DEBUG="-O1 -g" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DSARSCALE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$ASAN_BUILD" --parallel "$(nproc)"

# Leaks: Open MPI, PMIx and hwloc keep allocations for the process's life by design; those
# libraries (and only those) are suppressed, in tests/sanitizers/lsan.supp. Everything of
# sarscale's, HDF5's and GDAL's is checked. UBSan: every report is fatal (halt_on_error).
# fast_unwind_on_malloc=0: the fast unwinder loses the stack in Open MPI's components (no frame
# pointers), leaving "<unknown module>" frames no suppression can name; the slow one finds them.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$SARSCALE_ROOT/tests/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# Open MPI's shared-memory transport maps segments ASan cannot see into; TCP + self keep every
# byte in memory ASan knows (the MPI tests check results, not transport speed).
export OMPI_MCA_btl="self,tcp"

cd "$ASAN_BUILD"
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(-L 'unit|mpi')
ctest --output-on-failure --parallel "$(nproc)" --timeout 1800 "${args[@]}"
