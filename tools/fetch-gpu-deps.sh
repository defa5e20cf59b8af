#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with network), before a session on the lent GPU
# machine: that machine has nvcc, CMake, ninja and Python with torch, but no
# GoogleTest, Google Benchmark or ONNX development packages and no network.
# Downloads those Debian packages (not installed, just the .deb files) into .deps/
# (gitignored), plus cuDNN's headers from this machine's CUDA installation as a
# fallback for a pip cuDNN without headers. Carry .deps with the device tool
# (`carry: [".deps"]`); tools/bench.sh and tools/gpu-check.sh unpack it there
# with `dpkg -x` into /tmp/xsep-deps.
#
#   tools/fetch-gpu-deps.sh [--no-testdata]    # --no-testdata: skip libonnx-testdata (~6 MB;
#                                              # the onnx_conformance, graph_threads and
#                                              # install_consumer tests then fail)
set -euo pipefail
cd "$(dirname "$0")/.."

with_testdata=1
for a in "$@"; do
  case "$a" in
    --no-testdata) with_testdata=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fetch-gpu-deps: unknown argument $a" >&2; exit 2 ;;
  esac
done

# What a bare CUDA machine lacks for the bench (Google Benchmark), the tests
# (GoogleTest) and the graph runner (ONNX 1.12 + protobuf 3.21, as SPEC'd in
# shared/NOTES-deps.md). libonnxifi is needed because ONNX's CMake targets file
# references its libraries; zlib1g-dev because libprotobuf-dev depends on it.
packages=(
  libbenchmark-dev libbenchmark1debian
  libgtest-dev
  libonnx-dev libonnx1 libonnxifi
  libprotobuf-dev libprotobuf32 libprotobuf-lite32
  zlib1g-dev
)
[ "$with_testdata" = 1 ] && packages+=(libonnx-testdata)

# Check the names first, with a clear message (apt-cache needs `apt-get update` once).
missing=()
for p in "${packages[@]}"; do
  apt-cache show "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fetch-gpu-deps: apt-cache does not know: ${missing[*]} (run 'apt-get update' first?)" >&2
  exit 1
fi

mkdir -p .deps
rm -f .deps/*.deb
# (apt-get warns that it downloads "unsandboxed as root" into a root-owned folder: harmless.)
(cd .deps && apt-get download "${packages[@]}" 2>&1 >/dev/null | grep -v "unsandboxed as root" >&2 || true)
for p in "${packages[@]}"; do
  compgen -G ".deps/${p}_*.deb" >/dev/null || { echo "fetch-gpu-deps: $p was not downloaded" >&2; exit 1; }
done

# cuDNN headers (the legacy convolution API is stable across cuDNN 9.x), used only if
# the GPU machine's pip cuDNN ships no headers.
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
rm -rf .deps/cudnn-include
if compgen -G "$cuda_home/include/cudnn*.h" >/dev/null; then
  mkdir -p .deps/cudnn-include
  cp "$cuda_home"/include/cudnn*.h .deps/cudnn-include/
else
  echo "fetch-gpu-deps: no cuDNN headers under $cuda_home/include (the pip package's must do)" >&2
fi

echo "fetch-gpu-deps: .deps/"
for f in .deps/*.deb; do printf '  %8s  %s\n' "$(du -k "$f" | cut -f1)K" "$(basename "$f")"; done
[ -d .deps/cudnn-include ] && printf '  %8s  %s\n' "$(du -sk .deps/cudnn-include | cut -f1)K" "cudnn-include/ ($(ls .deps/cudnn-include | wc -l) headers)"
total_k=$(du -sk .deps | cut -f1)
echo "fetch-gpu-deps: total $((total_k / 1024)) MB ($total_k KB) in .deps (the device tool carries at most 64 MiB with the tree)"
if [ "$total_k" -gt $((60 * 1024)) ]; then
  echo "fetch-gpu-deps: over 60 MB: too large to carry" >&2
  exit 1
fi
