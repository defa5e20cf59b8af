#!/usr/bin/env bash
# Runs every test of xsep from a fresh clone (the README's test command):
#   1. python_ref: the numpy reference against onnxruntime (pytest)
#   2. emulated device + AddressSanitizer/UndefinedBehaviorSanitizer: API,
#      reference against the python goldens, every kernel against the reference
#   3. emulated device + ThreadSanitizer: the API, the emulator, a representative
#      kernel subset (also wide, stream, tiled), the graph kernels and graph threads
#   4. CUDA build (nvcc, sm_90) with the benchmark harness: compiles; host tests
#      and the harness's row check run, GPU tests report
#      SKIPPED without a GPU and run with one
# Build trees: build-asan/, build-tsan/, build-cuda/ at the repository root.
set -uo pipefail
cd "$(dirname "$0")/.."
# Every way out ends with the summary line (README): a failed setup too.
tools/setup.sh || { echo "SET-UP FAILED (tools/setup.sh)"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
PY="$PWD/.venv/bin/python"
JOBS="${JOBS:-2}"
status=0
LOGS="$(mktemp -d)"
# A test that hangs (a deadlock in an emulated launch) fails after 20 minutes
# instead of holding CI until its own limit, with no summary printed.
CTEST_TIMEOUT="${CTEST_TIMEOUT:-1200}"

step() { printf "\n==== %s (at %ds) ====\n" "$*" "$SECONDS"; }

configure_build() {  # dir, cmake args...
  local dir="$1"; shift
  cmake -S . -B "$dir" -G Ninja -DPython3_EXECUTABLE="$PY" -DXSEP_BUILD_BENCH=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

step "python_ref (pytest)"
# bench/test_tile_counts.py needs the built xsep-demo, test_mutated_models.py and
# test_varied_models.py the built xsep-run: CTest runs them (tile_counts,
# runner_mutated_models, runner_varied_models).
"$PY" -m pytest -q python_ref bench --ignore=bench/test_tile_counts.py \
  --ignore=python_ref/tests/test_mutated_models.py --ignore=python_ref/tests/test_varied_models.py \
  2>&1 | tee "$LOGS/pytest.log" || status=1

step "emulated device, ASan + UBSan: all tests"
mkdir -p build-asan
if configure_build build-asan -DXSEP_DEVICE=emu -DXSEP_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  # Two tests at a time: an emulated launch runs on one core (the fibers
  # engine), so two test processes keep both cores busy.
  (cd build-asan && ctest --output-on-failure --timeout "$CTEST_TIMEOUT" -j "$JOBS") 2>&1 | tee "$LOGS/ctest-asan.log" || status=1
else
  status=1; echo "build-asan failed" | tee "$LOGS/ctest-asan.log"
fi

step "emulated device, TSan: API and the kernel race subsets"
mkdir -p build-tsan
if configure_build build-tsan -DXSEP_DEVICE=emu -DXSEP_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure --timeout "$CTEST_TIMEOUT" -R '^(api|emulator_race|kernels_race|kernels_race_wide|kernels_stream_race|kernels_tiled_race|graph_kernels_race|graph_threads)$') 2>&1 | tee "$LOGS/ctest-tsan.log" || status=1
else
  status=1; echo "build-tsan failed" | tee "$LOGS/ctest-tsan.log"
fi

step "CUDA build (sm_90): compile, host tests, GPU tests (skipped without a GPU)"
mkdir -p build-cuda
# The benchmark harness is compiled too (with cuDNN when the toolkit has it) and
# its rows checked against tools/bench.sh's filters (CTest bench_rows): a GPU
# session has no minutes to spare on a harness that does not build.
if configure_build build-cuda -DXSEP_DEVICE=cuda -DCMAKE_BUILD_TYPE=Release -DXSEP_BUILD_BENCH=ON -DXSEP_WITH_CUDNN=ON; then
  (cd build-cuda && ctest --output-on-failure --timeout "$CTEST_TIMEOUT") 2>&1 | tee "$LOGS/ctest-cuda.log" || status=1
  # CTest shows GPU tests as "Skipped"; GoogleTest says why (with a GPU they ran).
  if ! nvidia-smi -L >/dev/null 2>&1; then
    build-cuda/tests/xsep_tests --gtest_filter='KernelRace/*' 2>&1 | grep -m1 -i "no cuda device" || true
  fi
else
  status=1; echo "build-cuda failed" | tee "$LOGS/ctest-cuda.log"
fi

step "summary"
if [ "$status" -ne 0 ]; then echo "SOME TEST STEPS FAILED (their logs are above)"; fi
# One closing line over all runners: pytest's counts plus each CTest run's
# (a CTest test is a group of GoogleTest cases; see tests/CMakeLists.txt).
"$PY" - "$LOGS" <<'PYEOF'
import pathlib, re, sys
passed = failed = skipped = 0
for log in sorted(pathlib.Path(sys.argv[1]).glob("*.log")):
    text = log.read_text(errors="replace")
    if log.name == "pytest.log":
        # pytest's own summary line ("3 failed, 320 passed, 24 skipped in 50.1s"),
        # the last one that looks like it: output after it (warnings at exit)
        # must not hide it, and a run that died before it counts as a failure.
        summaries = [l for l in text.splitlines()
                     if re.search(r"\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s", l)]
        if not summaries:
            failed += 1
            continue
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?)\b", summaries[-1]):
            if what == "passed": passed += int(n)
            elif what == "skipped": skipped += int(n)
            else: failed += int(n)
        continue
    # "100% tests passed, 0 tests failed out of 29"; CMake 4's ctest leaves out
    # ", 0 tests failed" when none failed ("100% tests passed out of 29").
    m = re.search(r"tests passed(?:, (\d+) tests failed)? out of (\d+)", text)
    if not m:
        failed += 1
        continue
    nskip = len(re.findall(r"\(Skipped\)", text))
    nfail = int(m.group(1) or 0)
    failed += nfail; skipped += nskip
    passed += int(m.group(2)) - nfail - nskip
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PYEOF
exit "$status"
