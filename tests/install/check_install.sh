#!/usr/bin/env bash
# CTest install_consumer: installs this build into a fresh prefix and uses it
# from outside, as the README's "From another CMake project" says:
#   1. cmake --install into a temporary prefix;
#   2. configure and build tests/install (find_package(xsep), plain C) against it;
#   3. run its consumers, and the installed xsep-run, with nothing on
#      LD_LIBRARY_PATH: the installed files must find each other themselves.
# usage: check_install.sh BUILD_DIR C_COMPILER GENERATOR (the build's own: the
# machine may have ninja and no make)
# ONNX's node test models come from XSEP_ONNX_NODE_TESTDATA, as in the
# conformance test (default: the Debian package libonnx-testdata).
set -euo pipefail
build=$1 cc=$2 generator=$3
node_data=${XSEP_ONNX_NODE_TESTDATA:-/usr/share/libonnx-testdata/data/node}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset LD_LIBRARY_PATH

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }
cmake -S "$here" -B "$work/consumer" -G "$generator" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
grep "found xsep" "$work/configure.log"
cmake --build "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

"$work/consumer/op_consumer"
if [[ -x "$work/prefix/bin/xsep-run" ]]; then
  "$work/consumer/graph_consumer" "$node_data/test_globalaveragepool/model.onnx"
  "$work/prefix/bin/xsep-run" "$node_data/test_relu/model.onnx" --backend reference >"$work/run.log" 2>&1 ||
    { cat "$work/run.log"; exit 1; }
  echo "installed xsep-run: ran test_relu on the reference backend"
fi
echo "install_consumer: PASS"
