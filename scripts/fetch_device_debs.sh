#!/usr/bin/env bash
# Downloads (does not install) the Debian 12 packages that scripts/device_check.sh unpacks on a GPU
# machine whose image has CUDA, PyTorch, CMake and ninja but none of smlab's other C++ dependencies,
# and no package registry: HDF5, SentencePiece, yaml-cpp, nlohmann-json, GoogleTest, zlib headers,
# OpenCV core + imgproc (the build there uses SMLAB_WITH_OPENCV_CODECS=OFF), and the run-time
# libraries those need. device_check.sh keeps a carried library only where the machine lacks it.
#
# usage: scripts/fetch_device_debs.sh [DIR]     (default: .debs, git-ignored; about 25 MB)
# then, through the device tool: run(command="bash scripts/device_check.sh", carry=[".debs", ".devdata"])
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-.debs}"
mkdir -p "$DIR"
PACKAGES=(
  # build-time: headers, CMake packages, link-time .so names
  libhdf5-dev libyaml-cpp-dev libsentencepiece-dev nlohmann-json3-dev libgtest-dev zlib1g-dev
  libopencv-core-dev libopencv-imgproc-dev
  # run-time libraries of smlab's direct dependencies
  libhdf5-103-1 libsz2 libaec0 libyaml-cpp0.7 libsentencepiece0 libopencv-core406 libopencv-imgproc406
  # what those need in turn (HDF5: curl and its TLS/Kerberos/LDAP stack; OpenCV core: TBB, LAPACK, GLX)
  libcurl4 libbrotli1 libcom-err2 libffi8 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0
  libk5crypto3 libkeyutils1 libkrb5-3 libkrb5support0 libldap-2.5-0 libnettle8 libnghttp2-14 libp11-kit0
  libpsl5 librtmp1 libsasl2-2 libssh2-1 libssl3 libtasn1-6 libunistring2 libzstd1
  libtbb12 libtbbmalloc2 liblapack3 libblas3 libgfortran5 libquadmath0 libglx0 libglvnd0 libx11-6 libx11-data
  libxcb1 libxau6 libxdmcp6 libbsd0 libmd0
)
(cd "$DIR" && apt-get download "${PACKAGES[@]}")
echo "fetched $(ls "$DIR"/*.deb | wc -l) packages into $DIR ($(du -sh "$DIR" | cut -f1))"
