#!/usr/bin/env bash
# The GPU check alone, on the lent H100/H200 machine (carry .deps/, made by
# tools/fetch-gpu-deps.sh): tools/bench.sh's build and tests without its
# measurements. It builds the CUDA configuration in build-bench/, runs the GPU test
# suite (every kernel against the reference on the card; the runner against
# onnxruntime where Python has onnx), compute-sanitizer (memcheck on KernelRace/*
# and KernelRaceWide/*, racecheck on KernelRace/*), and prints their results last.
# The exit status is 1 when a test failed or a sanitizer found errors. Options:
# --check-budget S (default 240).
exec "$(dirname "$0")/bench.sh" --no-bench --no-torch --no-e2e "$@"
