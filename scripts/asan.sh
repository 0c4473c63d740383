#!/usr/bin/env bash
# Builds the library and the test suites under AddressSanitizer and UndefinedBehaviorSanitizer
# (CMakePresets.json preset `asan`: gcc, -fsanitize=address,undefined, CUDA off) into build-asan/ and
# runs ctest there. Not part of CI: the build and the run take hours on a 2-core machine (see
# docs/reliability.md for the recorded run). Extra arguments go to ctest (default: -L 'unit|integration').
# Usage: bash scripts/asan.sh [ctest arguments]        SMLAB_ASAN_BUILD_ONLY=1 stops after the build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMLAB_VENV:-$ROOT/.venv}"
CMAKE="$VENV/bin/cmake"; [ -x "$CMAKE" ] || CMAKE=cmake
BUILD="$ROOT/build-asan"
start=$(date +%s)
if [ ! -f "$BUILD/build.ninja" ]; then
  (cd "$ROOT" && "$CMAKE" --preset asan -DSMLAB_PYTHON="$VENV/bin/python") >"$ROOT/build-asan.configure.log" 2>&1 \
    || { cat "$ROOT/build-asan.configure.log"; exit 1; }
  mv "$ROOT/build-asan.configure.log" "$BUILD/configure.log"
fi
"$CMAKE" --build "$BUILD" -j "${SMLAB_JOBS:-$(nproc)}" ${SMLAB_ASAN_TARGETS:+--target $SMLAB_ASAN_TARGETS}
echo "[asan] built in $(( $(date +%s) - start ))s"
[ -z "${SMLAB_ASAN_BUILD_ONLY:-}" ] || exit 0

# LibTorch, OpenCV, HDF5 and yaml-cpp are not instrumented:
#  - detect_container_overflow=0: std::vector annotations of instrumented code and the uninstrumented
#    libraries disagree when a vector crosses between them (a known ASan false positive);
#  - detect_leaks=0: LibTorch, the CPython of the oracle tests and OpenCV keep global allocations
#    until exit, which LeakSanitizer reports as leaks.
# UBSan stops at the first report (halt_on_error) so that a finding fails its test.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:detect_container_overflow=0:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$ROOT/scripts/ubsan.supp}"
export SMLAB_DATA="${SMLAB_DATA:-$(cd "$ROOT/.." && pwd)/shared/datasets}"
(($#)) || set -- -L 'unit|integration'
"$VENV/bin/ctest" --test-dir "$BUILD" -j "${SMLAB_JOBS:-$(nproc)}" --output-on-failure --timeout 3600 "$@"
