#!/usr/bin/env bash
# Installs what building and testing xsep needs on a fresh Debian 12 machine
# (as root, or with sudo): the compilers, test libraries and ONNX (C++ library
# and its node test data) from Debian, and the
# Python packages of python_ref/ from PyPI into .venv/ at the repository root.
# The CUDA toolkit (nvcc, cuda_fp16.h, cudart) must already be installed; it is
# used by both builds (the emulated one needs its headers only).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v g++ >/dev/null || need_apt+=(g++)
[ -f /usr/include/gtest/gtest.h ] || need_apt+=(libgtest-dev)
[ -f /usr/include/benchmark/benchmark.h ] || need_apt+=(libbenchmark-dev)
[ -f /usr/include/onnx/onnx_pb.h ] || need_apt+=(libonnx-dev)
[ -f /usr/include/google/protobuf/message.h ] || need_apt+=(libprotobuf-dev)
[ -d /usr/share/libonnx-testdata/data/node ] || need_apt+=(libonnx-testdata)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing from Debian: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
if [ ! -f "$CUDA_HOME/include/cuda_fp16.h" ]; then
  echo "setup: the CUDA toolkit was not found at $CUDA_HOME (set CUDA_HOME); xsep needs it" >&2
  exit 1
fi
export PATH="$CUDA_HOME/bin:$PATH"

stamp=.venv/.xsep-requirements.sha256
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  rm -f "$stamp"  # a venv made again (a new Python) has none of the packages
fi
# Installed once per version of the requirements and of Python (a stamp in
# .venv/), so a re-run needs no network.
want="$( { cat python_ref/requirements.txt; .venv/bin/python --version; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r python_ref/requirements.txt
  echo "$want" >"$stamp"
fi
echo "setup: ok ($(cmake --version | head -1), $(nvcc --version | tail -1), $(.venv/bin/python --version))"
