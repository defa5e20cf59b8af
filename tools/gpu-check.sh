#!/usr/bin/env bash
# The GPU check (run from the repository root on the lent H100/H200 machine;
# finishes within ~8 minutes): builds the CUDA configuration, runs the GPU
# test suite, compute-sanitizer memcheck and racecheck on a representative
# subset, the runner against onnxruntime on the cuda backend when ONNX is
# available, and prints a short summary last.
#
# That machine has nvcc, CMake, ninja and Python with torch but no GoogleTest,
# Google Benchmark or ONNX development packages and no network: run
# tools/fetch-gpu-deps.sh here first and carry .deps/ (the device tool's
# `carry` argument); this script unpacks them with dpkg -x into a prefix.
# Results go to $OUT (the device tool brings them back) or build-gpu/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-build-gpu/out}"
mkdir -p "$OUT"
t0=$(date +%s)
log() { printf '[gpu-check %4ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
declare -A result

source tools/use-gpu-deps.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nvcc --version | tail -1 | tee -a "$OUT/gpu.txt"

# The graph runner needs libonnx; build without it rather than not at all.
with_graph=ON
[ -f "$PREFIX/usr/include/onnx/onnx_pb.h" ] || [ -f /usr/include/onnx/onnx_pb.h ] || with_graph=OFF
PY=python3
log "configure (graph runner: $with_graph)"
cmake -S . -B build-gpu -G Ninja -DXSEP_DEVICE=cuda -DCMAKE_BUILD_TYPE=Release -DXSEP_BUILD_BENCH=OFF \
  -DXSEP_WITH_GRAPH=$with_graph -DXSEP_RUN_BACKENDS=reference,cuda -DPython3_EXECUTABLE="$(command -v $PY)" \
  >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
log "build"
ninja -C build-gpu -j 16 >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }

log "GPU test suite (ctest)"
# The kernel tests always; the python-driven ones only where numpy / onnx /
# onnxruntime / pytest import (they are not guaranteed on that machine).
tests='^(api|kernels.*|onnx_conformance|bad_models)$'
if $PY -c 'import numpy, onnx, onnxruntime, pytest' 2>/dev/null; then tests='.*'; fi
(cd build-gpu && timeout 240 ctest --output-on-failure -R "$tests") >"$OUT/ctest.log" 2>&1
result[ctest]=$(grep -E "tests passed|tests failed" "$OUT/ctest.log" | tail -1)
tail -25 "$OUT/ctest.log"

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    log "compute-sanitizer $tool on the race subset"
    timeout 120 compute-sanitizer --tool "$tool" --error-exitcode 9 build-gpu/tests/xsep_tests \
      --gtest_filter='KernelRace/*' >"$OUT/$tool.log" 2>&1
    rc=$?
    result[$tool]="exit $rc: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED' "$OUT/$tool.log" | tail -2 | tr '\n' ' ')"
  done
else
  result[memcheck]="compute-sanitizer not found"
fi

log "summary"
{
  echo "gpu-check summary ($(date -u +%F), $(cat "$OUT/gpu.txt" | head -1))"
  for k in ctest memcheck racecheck; do printf '  %-10s %s\n' "$k" "${result[$k]:-not run}"; done
  echo "  elapsed    $(( $(date +%s) - t0 )) s"
} | tee "$OUT/summary.txt"
