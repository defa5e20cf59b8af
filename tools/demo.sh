#!/usr/bin/env bash
# The main job: set up, build xsep (CUDA when a GPU is visible, else the
# emulated device) and run xsep-demo. Extra arguments go to xsep-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
device=emu
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then device=cuda; fi
dir="build-demo-$device"
cmake -S . -B "$dir" -G Ninja -DXSEP_DEVICE="$device" -DXSEP_BUILD_TESTS=OFF -DXSEP_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$dir" xsep-demo >/dev/null
echo "running on the $( [ $device = cuda ] && echo GPU || echo 'emulated device (no GPU found)')"
"$dir/xsep-demo" "$@"
