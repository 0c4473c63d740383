#!/usr/bin/env bash
# Builds the libFuzzer harnesses (CMakePresets.json preset `fuzz`: clang, ASan, UBSan, only the parsing
# code; tests/fuzz/) into build-fuzz/ and runs each one, one after the other.
# Usage: bash scripts/fuzz.sh [--runs N | --seconds S] [NAME...]
#   --runs N     bounded: N inputs per harness after its corpus (default 20000; CI, via scripts/test.sh),
#                each harness also stopped after 120 s whatever N is
#   --seconds S  long: S seconds per harness (docs/reliability.md records a 600 s run of each)
#   NAME         harnesses to run (config override csv idx tar hdf5 metadata journal; default all but
#                hdf5, see below)
# Each harness starts from its seeds (tests/fuzz/corpus/NAME), the saved regressions
# (tests/fuzz/regressions/NAME) and what earlier runs here added (build-fuzz/corpus/NAME). A crash,
# sanitizer report, uncaught non-UserError exception, timeout (10 s) or out-of-memory (2 GB) input is
# written to build-fuzz/crashes/NAME/. Prints per harness: executions, coverage (cov: edges, ft:
# features), corpus size, crashes; then a summary line. Exit status 1 when anything crashed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMLAB_VENV:-$ROOT/.venv}"
CMAKE="$VENV/bin/cmake"; [ -x "$CMAKE" ] || CMAKE=cmake
BUILD="$ROOT/build-fuzz"
ALL=(config override csv idx tar hdf5 metadata journal)
# The default run leaves out hdf5: libhdf5 1.10.8 itself crashes (memcpy overlap, then SEGV, in
# H5HG_read) or takes 2 GB on some damaged shards, an open finding (docs/reliability.md) that would fail
# every CI run. Name it to run it: bash scripts/fuzz.sh hdf5
DEFAULT=(config override csv idx tar metadata journal)
runs=20000; seconds=0; names=()
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) names+=("$1"); shift ;;
  esac
done
((${#names[@]})) || names=("${DEFAULT[@]}")

start=$(date +%s)
if [ ! -f "$BUILD/build.ninja" ]; then
  (cd "$ROOT" && "$CMAKE" --preset fuzz -DSMLAB_PYTHON="$VENV/bin/python") >"$ROOT/build-fuzz.configure.log" 2>&1 \
    || { cat "$ROOT/build-fuzz.configure.log"; exit 1; }
  mv "$ROOT/build-fuzz.configure.log" "$BUILD/configure.log"
fi
"$CMAKE" --build "$BUILD" -j "${SMLAB_JOBS:-$(nproc)}"
echo "[fuzz] built in $(( $(date +%s) - start ))s"

# Scratch files of the harnesses go to memory when it can hold them.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# UBSan reports end the input (the harnesses are built with -fno-sanitize-recover); LibTorch and HDF5
# are not instrumented (see docs/reliability.md). allocator_may_return_null: libhdf5 asks malloc for
# what a damaged file's metadata claims (8e18 bytes, in H5C_protect) and handles the NULL as an error,
# which smlab reports as a UserError; ASan would otherwise abort there, in code that is not smlab's.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:detect_container_overflow=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

total_exec=0; total_crash=0
for name in "${names[@]}"; do
  exe="$BUILD/fuzz_$name"
  [ -x "$exe" ] || { echo "[fuzz] no harness '$name' (known: ${ALL[*]})"; exit 2; }
  corpus="$BUILD/corpus/$name"; crashes="$BUILD/crashes/$name"
  mkdir -p "$corpus" "$crashes" "$ROOT/tests/fuzz/regressions/$name"
  args=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -f "$ROOT/tests/fuzz/$name.dict" ] && args+=(-dict="$ROOT/tests/fuzz/$name.dict")
  # The bounded run is seeded (-seed=1), so CI mutates the same way each time; long runs draw a seed.
  if ((seconds > 0)); then args+=(-max_total_time="$seconds"); else args+=(-runs="$runs" -max_total_time=120 -seed=1); fi
  before=$(find "$crashes" -type f | wc -l)
  t0=$(date +%s)
  set +e
  "$exe" "${args[@]}" "$corpus" "$ROOT/tests/fuzz/corpus/$name" "$ROOT/tests/fuzz/regressions/$name" \
    >"$BUILD/fuzz_$name.log" 2>&1
  rc=$?
  set -e
  after=$(find "$crashes" -type f | wc -l)
  crashed=$((after - before)); ((rc == 0 || crashed > 0)) || crashed=1
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz_$name.log" | grep -o '[0-9]*$' | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$BUILD/fuzz_$name.log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  corp=$(find "$corpus" "$ROOT/tests/fuzz/corpus/$name" "$ROOT/tests/fuzz/regressions/$name" -type f | wc -l)
  printf '[fuzz] %-9s %6ss  %9s executions  cov: %-5s ft: %-6s corpus: %-5s crashes: %s\n' \
    "$name" "$(( $(date +%s) - t0 ))" "${execs:-0}" "${cov:-?}" "${ft:-?}" "$corp" "$crashed"
  if ((crashed)); then
    grep -E 'ERROR|SUMMARY|what\(\)|runtime error' "$BUILD/fuzz_$name.log" | head -5 | sed 's/^/[fuzz]     /' || true
    echo "[fuzz]     log: $BUILD/fuzz_$name.log; input(s): $crashes/"
  fi
  total_exec=$((total_exec + ${execs:-0})); total_crash=$((total_crash + crashed))
done
echo "[fuzz] summary: ${#names[@]} harnesses, $total_exec executions, $total_crash crashes, $(( $(date +%s) - start ))s"
((total_crash == 0))
