#!/usr/bin/env bash
# Configures and builds smlab (Release, Ninja, ccache, precompiled torch headers) into build/.
# Usage: bash scripts/build.sh [extra cmake -D options]     (SMLAB_BUILD_DIR overrides build/)
#        SMLAB_TARGETS="smlab_cli" bash scripts/build.sh   builds only those targets (README command 1 builds
#        just the `smlab` binary; command 2, the default, builds everything, test suites included)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMLAB_VENV:-$ROOT/.venv}"
BUILD="${SMLAB_BUILD_DIR:-$ROOT/build}"
CMAKE="$VENV/bin/cmake"; [ -x "$CMAKE" ] || CMAKE=cmake
JOBS="${SMLAB_JOBS:-$(nproc)}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
start=$(date +%s)
mkdir -p "$BUILD"
if [ ! -f "$BUILD/build.ninja" ]; then
  "$CMAKE" -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${SMLAB_BUILD_TYPE:-Release}" \
    -DSMLAB_PYTHON="$VENV/bin/python" "$@" >"$BUILD/configure.log" 2>&1 \
    || { cat "$BUILD/configure.log"; exit 1; }
fi
targets=()
for t in ${SMLAB_TARGETS:-}; do targets+=(--target "$t"); done
"$CMAKE" --build "$BUILD" -j "$JOBS" "${targets[@]}"
echo "[build] done in $(( $(date +%s) - start ))s: $BUILD/smlab"
