#!/usr/bin/env bash
# README command 2 (and .ci/run): install what is missing, build, run every test, then the bounded
# fuzz run (scripts/fuzz.sh).
# Extra arguments go to ctest, e.g. `bash scripts/test.sh -L unit`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install_deps.sh"
python3 "$ROOT/scripts/check_layers.py"   # a lower layer never includes a higher one (seconds)
python3 "$ROOT/scripts/check_sizes.py" inference trainers   # files < 600 lines, functions < 80 (seconds)
bash "$ROOT/scripts/build.sh"
export SMLAB_DATA="${SMLAB_DATA:-$(cd "$ROOT/.." && pwd)/shared/datasets}"
"${SMLAB_VENV:-$ROOT/.venv}/bin/ctest" --test-dir "${SMLAB_BUILD_DIR:-$ROOT/build}" -j "$(nproc)" \
  --output-on-failure --timeout 900 "$@"
# The libFuzzer harnesses, bounded (20000 inputs each after their corpus; a few minutes in all, plus
# their own clang build into build-fuzz/), when the whole suite runs (no ctest arguments).
# SMLAB_FUZZ=0 skips them.
if (($# == 0)) && [ "${SMLAB_FUZZ:-1}" != 0 ]; then bash "$ROOT/scripts/fuzz.sh"; fi
