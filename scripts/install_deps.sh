#!/usr/bin/env bash
# Installs everything smlab needs; idempotent and non-interactive.
#   - Debian packages: OpenCV, SentencePiece, HDF5, yaml-cpp, nlohmann-json, GoogleTest, ccache, ninja,
#     python3-venv, and libgloo-dev (headers only: the torch wheel ships ProcessGroupGloo.hpp but not the
#     gloo headers it includes; the Gloo code itself is libtorch's); clang and libclang-rt-14-dev
#     (libFuzzer and the sanitizer runtimes) for the fuzz harnesses (scripts/fuzz.sh).
#   - A git-ignored venv (.venv) with torch==2.11.0 from PyPI. First the torch wheel alone
#     (--no-deps) plus only the NVIDIA wheels that /usr/local/cuda lacks; `ldd` then checks that
#     every libtorch library resolves (libcuda.so.1, the GPU driver, may be absent on CPU machines).
#     If anything else is missing, it falls back to the full install with all dependencies.
#   - Test/benchmark-only Python packages in the same venv: torchvision 0.26, tensorboard, numpy,
#     sentencepiece, h5py, scikit-learn (the oracle of `smlab eval`'s report), captum 0.9 (the oracle of
#     `smlab explain`; --no-deps so that it cannot pull a second torch, with its own small dependencies
#     listed), onnx, onnxruntime and onnxscript (`smlab export --format onnx` and its parity test). They are
#     never used at scoring time.
#   - CMake >= 3.28 in the venv (Debian 12's 3.25 lacks the CUDA20 dialect for nvcc).
# Usage: bash scripts/install_deps.sh            (SMLAB_VENV overrides the venv path)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMLAB_VENV:-$ROOT/.venv}"
TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
STAMP="$VENV/.smlab-deps-v1"
log() { printf '[install_deps] %s\n' "$*"; }

# ---------------------------------------------------------------- Debian packages
APT_PACKAGES=(build-essential pkg-config git ninja-build ccache python3 python3-venv python3-dev
  libopencv-dev libsentencepiece-dev sentencepiece libhdf5-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev googletest libgloo-dev dataset-fashion-mnist clang libclang-rt-14-dev
  chromium)  # chromium: the headless browser test of `smlab report` (tests/python/test_report_browser.py)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# ---------------------------------------------------------------- venv with torch
if [ -f "$STAMP" ] && "$VENV/bin/python" -c "import torch, torchvision, tensorboard, numpy, scipy, sentencepiece, h5py, sklearn, captum" 2>/dev/null; then
  log "venv ready at $VENV (torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'))"
  exit 0
fi
PY="${SMLAB_PYTHON3:-python3}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input)
"${PIP[@]}" --upgrade pip >/dev/null

torch_missing_libs() {
  local lib="$VENV/lib/python3"*/site-packages/torch/lib
  # libcuda.so.1 is the GPU driver: absent on CPU machines, provided by the driver on GPU nodes.
  for f in $lib/*.so; do ldd "$f" 2>/dev/null | grep "not found" | grep -v "libcuda.so.1" || true; done | awk '{print $1}' | sort -u
}

if ! "$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION')" 2>/dev/null; then
  log "installing torch==$TORCH_VERSION (--no-deps) into $VENV"
  "${PIP[@]}" --no-deps "torch==$TORCH_VERSION"
  "${PIP[@]}" filelock "typing-extensions>=4.10.0" "setuptools<82" "sympy>=1.13.3" "networkx>=2.5.1" jinja2 "fsspec>=0.8.5"
fi
missing_libs="$(torch_missing_libs)"
if [ -n "$missing_libs" ]; then
  log "libraries not found by libtorch: $(echo $missing_libs | tr '\n' ' ')"
  wheels=()
  grep -q libcufile <<<"$missing_libs" && wheels+=("nvidia-cufile==1.15.1.6")
  grep -q libcusparseLt <<<"$missing_libs" && wheels+=("nvidia-cusparselt-cu13==0.8.0")
  grep -q libnvshmem <<<"$missing_libs" && wheels+=("nvidia-nvshmem-cu13==3.4.5")
  grep -q libnccl <<<"$missing_libs" && wheels+=("nvidia-nccl-cu13==2.28.9")
  grep -q libcudnn <<<"$missing_libs" && wheels+=("nvidia-cudnn-cu13==9.19.0.56")
  if ((${#wheels[@]})); then
    log "installing ${wheels[*]}"
    "${PIP[@]}" --no-deps "${wheels[@]}"
  fi
  missing_libs="$(torch_missing_libs)"
  if [ -n "$missing_libs" ]; then
    log "still unresolved ($(echo $missing_libs | tr '\n' ' ')): falling back to the full torch install"
    "${PIP[@]}" "torch==$TORCH_VERSION"
    missing_libs="$(torch_missing_libs)"
    [ -z "$missing_libs" ] || { log "ERROR: libtorch still misses: $missing_libs"; exit 1; }
  fi
fi
log "ldd: every libtorch library resolves"

log "installing test/benchmark packages (torchvision $TORCHVISION_VERSION, tensorboard, numpy, ...)"
"${PIP[@]}" --no-deps "torchvision==$TORCHVISION_VERSION"
"${PIP[@]}" numpy scipy pillow tensorboard sentencepiece h5py pyyaml scikit-learn "cmake>=3.28,<4"
"${PIP[@]}" --no-deps "captum==0.9.0"
"${PIP[@]}" matplotlib tqdm packaging
"${PIP[@]}" "onnx==1.23.2" "onnxruntime==1.32.0" "onnxscript==0.7.2"
"$VENV/bin/python" -c "import torch, torchvision; print('[install_deps] torch', torch.__version__, 'torchvision', torchvision.__version__)"
touch "$STAMP"
