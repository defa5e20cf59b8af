#!/usr/bin/env bash
# The main job: set up, build xsep, write the three MobileNetV3-Small networks
# as ONNX (python_ref/build_models.py) and run mbv3s-xsep with xsep-run — on the
# GPU with the cuda backend when one is visible, else with the reference
# backend on the CPU. Extra arguments go to xsep-run (e.g. --batch 8 --iters 20).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
device=emu backend=reference arch=()
# On a GPU: built for that GPU (CMake's "native"), not only the default sm_90.
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  device=cuda backend=cuda arch=(-DCMAKE_CUDA_ARCHITECTURES=native)
fi
dir="build-demo-$device"
cmake -S . -B "$dir" -G Ninja -DXSEP_DEVICE="$device" -DXSEP_BUILD_TESTS=OFF -DXSEP_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Release "${arch[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
ninja -C "$dir" xsep-run >"$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; exit 1; }
.venv/bin/python -m python_ref.build_models "$dir/models" >/dev/null
echo "== xsep-run $dir/models/mbv3s-xsep.onnx --backend $backend $*"
"$dir/xsep-run" "$dir/models/mbv3s-xsep.onnx" --backend "$backend" "$@"
