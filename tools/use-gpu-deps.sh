# shellcheck shell=bash
# Sourced by the scripts that run on the GPU machine (tools/gpu-check.sh,
# tools/bench.sh): unpacks the Debian packages carried in .deps/ (made by
# tools/fetch-gpu-deps.sh) into $PREFIX with dpkg -x and points CMake, the
# compiler and the ONNX conformance test at them. Their library directories go
# to DEPS_LD, not to LD_LIBRARY_PATH: the caller gives them to its own binaries
# only, so that Python's torch keeps loading its own CUDA libraries. Expects a log().
PREFIX=/tmp/xsep-deps
DEPS_LD=""
if compgen -G ".deps/*.deb" >/dev/null; then
  mkdir -p "$PREFIX"
  for f in .deps/*.deb; do dpkg -x "$f" "$PREFIX"; done
  export CMAKE_PREFIX_PATH="$PREFIX/usr:$PREFIX/usr/lib/x86_64-linux-gnu/cmake${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  DEPS_LD="$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/usr/lib"
  export CPATH="$PREFIX/usr/include${CPATH:+:$CPATH}"
  export XSEP_ONNX_NODE_TESTDATA="$PREFIX/usr/share/libonnx-testdata/data/node"
  log "unpacked $(ls .deps/*.deb | wc -l) packages into $PREFIX"
else
  log "no .deps/*.deb (run tools/fetch-gpu-deps.sh where there is network, carry .deps): relying on the machine"
fi
