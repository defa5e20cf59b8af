#!/usr/bin/env bash
# The device script of issue 5, on the lent H100/H200 machine, from the repository
# root, with .deps/ carried (tools/fetch-gpu-deps.sh, run beforehand on a machine
# with network). Builds the CUDA configuration (xsep, its tests, xsep_bench against
# cuDNN, xsep-run when ONNX is available); runs the GPU tests (ctest: every kernel
# against the reference on this card, the runner against onnxruntime where Python has
# onnx) and compute-sanitizer (memcheck on KernelRace/* and KernelRaceWide/*, racecheck
# on KernelRace/*); then xsep_bench
# (kernels vs cuDNN vs a copy), python_ref/bench_torch.py (vs PyTorch, and end to end
# beside xsep-run), bench/report.py, and prints a short table last: the targets, the
# fused rows, the GPU tests' results.
#
#   tools/bench.sh [--budget S] [--quick] [--no-check] [--check-budget S] [--ncu]
#                  [--deadline S] [--no-bench] [--no-torch] [--no-e2e]
#
#   --budget S   seconds for the measurements after the build and the tests (default
#                360): about 45% xsep_bench, 30% bench_torch's kernels, the rest its
#                end-to-end part; unused time passes on. Each part stops starting new
#                measurements when its share is spent, and a hard timeout backs that up
#                (never past the budget's end + 60 s, so the report still comes out).
#   --quick      a subset: N64_C96_56x56, K in {3,5,7,9}, stride 1 and 2, f16 NHWC and
#                f32 NCHW and NHWC (every kernel target of issue 5 has a row there);
#                bench_torch without torch.compile; end to end with fewer iterations.
#   --ncu        after the tests, before the measurements: tools/ncu.sh --quick (Nsight
#                Compute counters of the fused kernels, ncu.md / ncu.json), at most 60 s.
#   --deadline S the whole script ends within about S seconds of its start (the device
#                call's timeout_s minus a margin of 30 s): the tests, ncu and the
#                measurements are cut to fit, in that order of priority, and the report
#                still comes out. The build is not cut, and each measuring part keeps a
#                floor of 10-30 s, so a build that eats nearly all of S overruns it.
#   --no-check   skip the GPU tests (their results are repeated only where an earlier call
#                on this machine tested the same build; a fresh machine has none).
#   --check-budget S  at most S seconds for the tests (default 240): 2/3 for ctest, the
#                rest for the two compute-sanitizer runs, then the torchvision weight
#                test (where torch is installed; it needs no GPU). A test cut off by the time limit
#                is reported as such, not as a failure.
#   --no-bench --no-torch --no-e2e   skip that part; with all three, only build and test
#                (tools/gpu-check.sh).
#
# Everything goes to $OUT when set (the device tool brings back at most 8 files from
# there: bench.log, xsep_bench.json, bench_torch.json, the report's .json/.md/.png and,
# with --ncu, ncu.md/.json: 8),
# else to bench/results/ (report files) and bench/results/raw/ (the rest). The build is
# in build-bench/. Nothing here changes the GPU's settings.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
t0=$(date +%s)

budget=360 quick=0 do_bench=1 do_torch=1 do_e2e=1 do_check=1 check_budget=240 do_ncu=0 total=0
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget="$2"; shift ;;
    --budget=*) budget="${1#*=}" ;;
    --quick) quick=1 ;;
    --no-bench) do_bench=0 ;;
    --no-torch) do_torch=0 ;;
    --no-e2e) do_e2e=0 ;;
    --no-check) do_check=0 ;;
    --check-budget) check_budget="$2"; shift ;;
    --check-budget=*) check_budget="${1#*=}" ;;
    --ncu) do_ncu=1 ;;
    --deadline) total="$2"; shift ;;
    --deadline=*) total="${1#*=}" ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ -n "${OUT:-}" ]; then
  RES="$OUT" RAW="$OUT"
else
  RES=bench/results RAW=bench/results/raw
fi
mkdir -p "$RES" "$RAW"
LOG="$RAW/bench.log"
: >"$LOG"
TMP=$(mktemp -d /tmp/xsep-bench.XXXXXX)
BUILD=build-bench
JOBS="${XSEP_BENCH_JOBS:-$(nproc)}"  # build parallelism (the GPU machine has 16 cores)
log() { printf '[bench %4ds] %s\n' "$(( $(date +%s) - t0 ))" "$*" | tee -a "$LOG"; }
quiet() { "$@" >>"$LOG" 2>&1; }  # full output to the log only
elapsed() { echo $(( $(date +%s) - t0 )); }
# fit SECONDS RESERVE -> SECONDS, cut so that RESERVE seconds remain before --deadline
# (at least 10); SECONDS unchanged without a deadline.
fit() {
  [ "$total" -gt 0 ] || { echo "$1"; return; }
  local room=$(( total - $(elapsed) - $2 )); [ "$room" -lt 10 ] && room=10
  [ "$1" -lt "$room" ] && echo "$1" || echo "$room"
}

# ---- Dependencies carried as .deb files -------------------------------------------
source tools/use-gpu-deps.sh
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
# Loader paths, kept apart: xsep_bench (and ncu, which runs it) gets the carried
# packages, cuDNN's directory (added below) and the toolkit's libraries last (cuDNN's
# engines may want its cuBLASLt / NVRTC; the binaries' own RUNPATH still picks the
# toolkit's cudart): `bin`. Everything else, the tests included (their pytest parts
# import torch where it is installed), gets only the carried packages (ONNX, protobuf,
# GoogleTest for our binaries) and cuDNN's directory, so that torch loads its own CUDA
# libraries rather than the toolkit's: `deps`.
BIN_LD="${DEPS_LD:+$DEPS_LD:}${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}${CUDA_HOME:-/usr/local/cuda}/lib64"
DEPS_RUN_LD="${DEPS_LD}${LD_LIBRARY_PATH:+${DEPS_LD:+:}$LD_LIBRARY_PATH}"
bin() { LD_LIBRARY_PATH="$BIN_LD" "$@"; }
deps() { LD_LIBRARY_PATH="$DEPS_RUN_LD" "$@"; }
PY=python3

# ---- The machine -----------------------------------------------------------------
gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
           --format=csv,noheader 2>/dev/null | head -1)
gpu_name=$(echo "$gpu_line" | cut -d, -f1 | sed 's/^ *//;s/ *$//')
driver=$(echo "$gpu_line" | cut -d, -f2 | sed 's/^ *//;s/ *$//')
log "GPU: ${gpu_line:-none visible to nvidia-smi}"
log "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
log "cmake: $(cmake --version | head -1); python: $($PY --version 2>&1); $(uname -r)"
{ nvidia-smi 2>&1 | head -20; $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "cudnn", torch.backends.cudnn.version())' 2>&1; } >>"$LOG"

# ---- cuDNN: the pip package torch uses (nvidia-cudnn-cu13), else the toolkit's ---------
cudnn_args=()
cudnn_lib=""
candidates=$($PY - <<'EOF' 2>/dev/null
import os
c = []
try:
    import nvidia.cudnn as m
    c += [p for p in getattr(m, "__path__", [])]
except Exception:
    pass
try:
    import torch
    c.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
except Exception:
    pass
print("\n".join(c))
EOF
)
# One directory per line (a path may hold spaces).
while IFS= read -r cand; do
  [ -n "$cand" ] || continue
  for libdir in "$cand/lib" "$cand/lib64" "$cand"; do
    lib=$(ls "$libdir"/libcudnn.so.9 "$libdir"/libcudnn.so 2>/dev/null | head -1)
    [ -n "$lib" ] && break
  done
  [ -n "$lib" ] || continue
  cudnn_lib="$lib"
  if [ -f "$cand/include/cudnn.h" ]; then
    cudnn_args=(-DCUDNN_ROOT="$cand" -DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$cand/include")
  elif [ -f .deps/cudnn-include/cudnn.h ]; then
    cudnn_args=(-DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$PWD/.deps/cudnn-include")
    log "cuDNN: $cand has no headers: using .deps/cudnn-include ($(grep -m1 'define CUDNN_MINOR' .deps/cudnn-include/cudnn_version.h | awk '{print "9." $3}'))"
  fi
  break
done < <(printf '%s\n' "$candidates" "${CUDNN_ROOT:-}")
if [ -n "$cudnn_lib" ]; then
  cudnn_dir=$(dirname "$cudnn_lib")
  BIN_LD="$cudnn_dir:$BIN_LD"
  # Also for the tests (bench_rows lists xsep_bench's rows, and xsep_bench links cuDNN):
  # the directory is torch's own cuDNN package, so torch loads the same library there.
  DEPS_RUN_LD="$cudnn_dir${DEPS_RUN_LD:+:$DEPS_RUN_LD}"
  log "cuDNN: $cudnn_lib ${cudnn_args[*]:-(no headers found: the finder searches the toolkit)}"
else
  log "cuDNN: not found in torch's packages; the finder searches CUDNN_ROOT and the CUDA toolkit"
fi

# ---- Build ---------------------------------------------------------------------------
with_graph=OFF
[ -f "$PREFIX/usr/include/onnx/onnx_pb.h" ] || [ -f /usr/include/onnx/onnx_pb.h ] && with_graph=ON
grep -q 'add_subdirectory(bench)' CMakeLists.txt ||
  log "WARNING: CMakeLists.txt does not add_subdirectory(bench): xsep_bench cannot be built"
configure() {  # configure GRAPH TESTS
  cmake -S . -B "$BUILD" -G Ninja -DXSEP_DEVICE=cuda -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DXSEP_BUILD_TESTS="$2" -DXSEP_BUILD_BENCH=ON -DXSEP_WITH_CUDNN=ON "${cudnn_args[@]}" \
    -DXSEP_WITH_GRAPH="$1" -DXSEP_RUN_BACKENDS=reference,cuda -DPython3_EXECUTABLE="$(command -v $PY)" \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5
}
# The tests are configured whether or not this call runs them, so that a later call
# with --no-check reuses the same build tree. Without ONNX or GoogleTest, fall back
# to what configures (the cache is cleared only before a fallback).
fresh_tree=1
[ -f "$BUILD/build.ninja" ] && fresh_tree=0
attempts=("OFF ON" "OFF OFF")  # "graph tests"
[ "$with_graph" = ON ] && attempts=("ON ON" "OFF ON" "ON OFF" "OFF OFF")
with_tests=ON configured=0 first=1
for attempt in "${attempts[@]}"; do
  [ "$first" = 1 ] || rm -f "$BUILD/CMakeCache.txt"
  first=0
  set -- $attempt
  log "configure (graph runner: $1, tests: $2)"
  if quiet configure "$1" "$2"; then configured=1 with_graph=$1 with_tests=$2; break; fi
done
[ "$configured" = 1 ] || { log "configure failed"; tail -30 "$LOG"; exit 1; }
[ "$with_tests" = ON ] || log "WARNING: the tests did not configure (GoogleTest missing?): no GPU tests this run"
grep -E "^-- (xsep_bench|Found CUDNN)|^CMake Warning" "$LOG" | tail -3
# One ninja call for everything this run needs (-k 0: one failure does not stop the
# rest); then each binary counts only if ninja has nothing left to do for it, so a
# stale binary from an earlier call is never run as if it were this tree's.
# Only targets this tree has: ninja refuses the whole call for an unknown one
# (no xsep_bench without Google Benchmark).
# (grep reads to the end: with -q it would exit at the first match, ninja would die of
# SIGPIPE, and pipefail would call the target missing.)
have_target() { ninja -C "$BUILD" -t targets all 2>/dev/null | grep "^$1:" >/dev/null; }
targets=(xsep)
have_target xsep_bench && targets+=(xsep_bench)
[ "$with_graph" = ON ] && have_target xsep-run && targets+=(xsep-run)
[ "$do_check" = 1 ] && [ "$with_tests" = ON ] && targets=(all)
log "build (${targets[*]})"
quiet ninja -C "$BUILD" -j "$JOBS" -k 0 "${targets[@]}" || log "the build had failures (see bench.log)"
built() { ninja -C "$BUILD" -n "$1" 2>/dev/null | grep -q "no work to do"; }
built xsep || { log "building libxsep failed"; tail -40 "$LOG"; exit 1; }
if ! have_target xsep_bench || ! built xsep_bench; then
  log "xsep_bench did not build (see bench.log)"; rm -f "$BUILD/bench/xsep_bench"
  bench_missing=1
fi
if [ "$with_graph" = ON ] && ! built xsep-run; then log "xsep-run did not build (see bench.log)"; rm -f "$BUILD/xsep-run"; fi
tests_built=0
# The tests run when their binaries built, even if something else did not (the
# benchmark harness's cuDNN part is first compiled on the GPU machine): a test
# whose own binary is missing then fails by itself.
if [ "$do_check" = 1 ] && [ "$with_tests" = ON ]; then
  if built all; then
    tests_built=1
  elif built xsep_tests && built xsep_graph_tests; then
    tests_built=1; log "not every target built (see bench.log); the GPU tests run anyway"
  fi
fi
xsep_run_args=()
[ -x "$BUILD/xsep-run" ] && xsep_run_args=(--xsep-run "$PWD/$BUILD/xsep-run")
log "built: $(cd "$BUILD" && ls libxsep.so bench/xsep_bench xsep-run tests/xsep_tests 2>/dev/null | tr '\n' ' ')"
# The loader path the binaries ran with, for tools/ncu.sh on the same machine.
printf 'export LD_LIBRARY_PATH=%q\n' "$BIN_LD" >"$BUILD/run-env.sh"

# ---- GPU tests: the kernels against the reference on this card, then compute-sanitizer ---
# Before any timing: a kernel that is wrong on the GPU makes its numbers meaningless.
check_file="$TMP/check.txt" check_failed=0
: >"$check_file"
check() { printf '%s\n' "$*" | tee -a "$check_file" >>"$LOG"; }
# The build the results belong to: a later --no-check call reports them only for it.
fingerprint() { (cd "$BUILD" && cat libxsep.so tests/xsep_tests 2>/dev/null | sha256sum | cut -c1-16); }
if [ "$do_check" = 1 ]; then
  rm -f "$BUILD/last-check.txt"
fi
if [ "$do_check" = 1 ] && [ "$tests_built" = 1 ]; then
  t_check=$(date +%s)
  check_left() { echo $(( check_budget - ($(date +%s) - t_check) )); }  # seconds left of the check budget
  # The python-driven tests (goldens, runner against onnxruntime) only where numpy,
  # onnx, onnxruntime and pytest import.
  tests='^(api|kernels.*|graph_kernels.*|onnx_conformance.*|bad_models|bad_calls|lowered_models|bench_rows)$'
  $PY -c 'import numpy, onnx, onnxruntime, pytest' 2>/dev/null && tests='.*'
  # With --deadline: keep ~2.5 min for ncu, the measurements and the report (only
  # what was asked for: with --no-bench --no-torch --no-e2e the tests may use the rest,
  # where they used to be cut to ~10 s and reported as cut off).
  measuring=$(( do_bench || do_torch || do_e2e ))
  check_budget=$(fit "$check_budget" $(( do_ncu * 60 + measuring * 90 )))
  tc=$(( check_budget * 2 / 3 ))
  log "GPU tests: ctest -R '$tests' (at most ${tc}s)"
  # bench_rows checks xsep_bench's rows: without the binary (logged above) it has
  # nothing to check, and its failure would hide the GPU tests' own verdict.
  exclude='^$'
  [ "${bench_missing:-0}" = 1 ] && exclude='^bench_rows$' && log "bench_rows not run: no xsep_bench"
  (cd "$BUILD" && deps timeout "$tc" ctest -j 8 --timeout $(( tc - 10 )) --output-on-failure -R "$tests" -E "$exclude") \
    >"$TMP/ctest.log" 2>&1
  rc=$?
  cat "$TMP/ctest.log" >>"$LOG"
  # "100% tests passed, 0 tests failed out of 29", or (CMake 4's ctest, none failed)
  # "100% tests passed out of 29".
  summary=$(grep -E "tests passed(, [0-9]+ tests failed)? out of" "$TMP/ctest.log" | tail -1)
  if [ -z "$summary" ]; then  # killed by the timeout: count what had finished
    summary="stopped after ${tc}s (exit $rc): $(grep -cE 'Test +#[0-9]+: .* Passed' "$TMP/ctest.log") passed,"
    summary+=" $(grep -E 'Test +#[0-9]+: ' "$TMP/ctest.log" | grep -cvE 'Passed|Skipped|Timeout') failed so far"
  fi
  # Failed tests, and tests cut off by ctest's per-test limit (reported, not failed).
  failed=$( { sed -n '/The following tests FAILED/,$p' "$TMP/ctest.log" | grep -E '^\s+[0-9]+ - ' |
              grep -v '(Timeout)' | sed -E 's/^\s+[0-9]+ - //; s/ \(.*//'
            grep -E 'Test +#[0-9]+: ' "$TMP/ctest.log" | grep -vE 'Passed|Skipped|Timeout' |
              sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/'
          } | sort -u | tr '\n' ' ')
  cut_off=$(grep -E 'Test +#[0-9]+: .*Timeout' "$TMP/ctest.log" |
            sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/' | sort -u | tr '\n' ' ')
  skipped=$(grep -c "(Skipped)" "$TMP/ctest.log"); [ "$skipped" = 0 ] && skipped=""
  # A failed test fails the check; being cut off by a time limit (ctest's per-test one,
  # or timeout's 124 for the whole run) does not. ctest exits 8 for either.
  [ -n "$failed" ] && check_failed=1
  [ -z "$failed" ] && [ -z "$cut_off" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && check_failed=1
  check "ctest: ${summary}${skipped:+, $skipped skipped}${failed:+; FAILED: $failed}${cut_off:+; cut off by the time limit: $cut_off}"
  if command -v compute-sanitizer >/dev/null; then
    # memcheck over every operator, dtype and layout (KernelRaceWide, 48 small cases) and
    # the race subset; racecheck, the slower, over the race subset. memcheck may take half
    # of what is left of the check budget, racecheck the rest.
    for run in "memcheck;KernelRace/*:KernelRaceWide/*;2" "racecheck;KernelRace/*;1"; do
      IFS=';' read -r tool filter share <<<"$run"
      # Within the check budget (already cut to --deadline): no floor that would overrun it.
      left_check=$(check_left)
      if [ "$left_check" -lt 20 ]; then
        check "$tool ($filter): not run (${left_check}s left of the check budget)"
        continue
      fi
      ts=$(( left_check / share ))
      log "compute-sanitizer $tool on $filter (at most ${ts}s)"
      deps timeout "$ts" compute-sanitizer --tool "$tool" --error-exitcode 9 --print-limit 20 \
        "$BUILD/tests/xsep_tests" --gtest_filter="$filter" >"$TMP/$tool.log" 2>&1
      rc=$?
      cat "$TMP/$tool.log" >>"$LOG"
      if grep -q "Device not supported" "$TMP/$tool.log"; then
        what="did not run: compute-sanitizer does not support the device here (not a test failure)"
      else
        case $rc in
          0) what="clean" ;;
          9) what="errors found"; check_failed=1 ;;
          1) what="a test failed"; check_failed=1 ;;
          124) what="timed out" ;;
          *) what="did not run (see bench.log)" ;;
        esac
      fi
      check "$tool ($filter): exit $rc ($what):" \
            "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|\[  PASSED  \]|\[  FAILED  \]' "$TMP/$tool.log" | tail -2 | tr '\n' ' ')"
    done
  else
    check "compute-sanitizer: not on PATH"
  fi
  # The networks against torchvision's own mobilenet_v3_small with the same weights
  # (python_ref/tests/test_build_models.py): skipped wherever torch is missing, as on
  # CI, so run here, where python3 has torch and torchvision; a few seconds on the CPU,
  # in what the sanitizers left of the check budget: it needs no GPU and passed with
  # torch 2.15 on a CPU machine, while the sanitizers can only run here. (torchvision's
  # network through torch.onnx.export and xsep-run, test_runner.py's
  # test_torchvision_*, already ran in ctest's runner_vs_onnxruntime, whose python3
  # is this one.)
  left_check=$(check_left)
  if [ "$left_check" -lt 20 ]; then
    check "mbv3s vs torchvision (same weights): not run (${left_check}s left of the check budget)"
  elif deps $PY -c 'import torch, torchvision, onnxruntime, pytest' 2>/dev/null; then
    deps timeout "$(( left_check < 120 ? left_check : 120 ))" $PY -m pytest -q -p no:cacheprovider \
      python_ref/tests/test_build_models.py -k torchvision >"$TMP/torchvision.log" 2>&1
    rc=$?
    cat "$TMP/torchvision.log" >>"$LOG"
    [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && check_failed=1
    check "mbv3s vs torchvision (same weights): exit $rc:" \
          "$(grep -E '[0-9]+ (passed|failed|skipped)' "$TMP/torchvision.log" | tail -1)"
  fi
  log "GPU tests took $(( $(date +%s) - t_check ))s"
  { echo "build $(fingerprint)"; cat "$check_file"; } >"$BUILD/last-check.txt"
elif [ "$do_check" = 1 ]; then
  check "GPU tests: not run (the tests did not build or configure; see bench.log)"
  check_failed=1
elif [ -s "$BUILD/last-check.txt" ]; then
  # --no-check where an earlier call tested this very build: report those results.
  if [ "$(head -1 "$BUILD/last-check.txt")" = "build $(fingerprint)" ]; then
    { echo "(from an earlier call on this machine, same build, $(date -u -r "$BUILD/last-check.txt" +%FT%TZ))"
      tail -n +2 "$BUILD/last-check.txt"; } >"$check_file"
  else
    log "the earlier call's GPU test results belong to another build: not reported"
  fi
elif [ "$fresh_tree" = 1 ]; then
  log "WARNING: --no-check on a fresh machine (the earlier call's build is gone): no GPU test results this run"
fi

# ---- Nsight Compute (--ncu), before the measurements -----------------------------------
if [ "$do_ncu" = 1 ]; then
  tn=$(fit 60 90)
  log "tools/ncu.sh --quick (at most ${tn}s)"
  tools/ncu.sh --quick --seconds "$tn" >>"$LOG" 2>&1 || log "ncu.sh exited with $? (see bench.log)"
  [ -s "$RAW/ncu.md" ] && tail -8 "$RAW/ncu.md"  # ncu.sh writes to $OUT or bench/results/raw
fi

# ---- Budget ----------------------------------------------------------------------------
# With --deadline: the measurements end 70 s before it (their 60 s of grace, the report).
budget=$(fit "$budget" 70)
t_meas=$(date +%s)
left() { echo $(( budget - ($(date +%s) - t_meas) )); }
# The hard backstop of every measuring process: its own share plus some grace, but never
# past the end of --budget plus 60 s, so that the report (written last) still comes out
# inside the device call's time limit.
deadline=$(( t_meas + budget + 60 ))
hard() {  # hard SECONDS -> min(SECONDS, time to the deadline), at least 10
  local to=$(( deadline - $(date +%s) )); [ "$1" -lt "$to" ] && to=$1; [ "$to" -lt 10 ] && to=10; echo "$to"
}
share() {  # share PERCENT_OF_WHAT_IS_LEFT -> seconds (at least 20)
  local s=$(( $(left) * $1 / 100 )); [ "$s" -lt 20 ] && s=20; echo "$s"
}

# ---- xsep_bench ------------------------------------------------------------------------
bench_jsons=()
if [ "$do_bench" = 1 ] && [ -x "$BUILD/bench/xsep_bench" ]; then
  ctx="--benchmark_context=gpu=${gpu_name// /_},driver=${driver:-unknown}"
  source bench/filters.sh
  if [ "$quick" = 1 ]; then
    chunks=("$XSEP_BENCH_QUICK")
    samples=10
  else
    chunks=("${XSEP_BENCH_CHUNKS[@]}")
    samples=15
  fi
  bench_total=$(share 45)
  t_bench=$(date +%s)
  for c in "${chunks[@]}"; do
    IFS=';' read -r name filter pct <<<"$c"
    remaining=$(( bench_total - ($(date +%s) - t_bench) ))
    b=$(( remaining * pct / 100 )); [ "$b" -lt 10 ] && b=10
    log "xsep_bench $name (budget ${b}s)"
    bin timeout "$(hard $(( b + 60 )))" "$BUILD/bench/xsep_bench" --benchmark_filter="$filter" \
      --benchmark_out="$TMP/bench-$name.json" --benchmark_out_format=json "$ctx" \
      --xsep_samples=$samples --xsep_budget_s="$b" >>"$LOG" 2>&1
    rc=$?
    [ -s "$TMP/bench-$name.json" ] && bench_jsons+=("$TMP/bench-$name.json")
    if [ "$rc" -ne 0 ]; then
      log "xsep_bench $name exited with $rc: $(grep -E '^xsep_bench|error' "$LOG" | tail -1)"
      [ "$rc" -eq 2 ] && break  # no device / bad flags: the other chunks would fail the same way
    fi
  done
  # The fused block's two kernels forced in turn on the DRAM shapes, each in its
  # own process (the library reads XSEP_XSEPCONV_KERNEL once); rows renamed to
  # xsepstream/... and xseptiled/... so that report.py sets them side by side
  # (the xsepconv/... rows are the default choice: tiled, or stream for NHWC K >= 11).
  if [ "$quick" = 0 ] && [ ${#bench_jsons[@]} -gt 0 ]; then
    for variant in stream tiled; do
      b=$(( bench_total / 8 )); [ "$b" -lt 10 ] && b=10
      log "xsep_bench fused kernel forced to $variant (budget ${b}s)"
      XSEP_XSEPCONV_KERNEL=$variant bin timeout "$(hard $(( b + 60 )))" "$BUILD/bench/xsep_bench" \
        --benchmark_filter="$XSEP_BENCH_FUSED_DRAM" \
        --benchmark_out="$TMP/bench-$variant.json" --benchmark_out_format=json "$ctx" \
        --xsep_samples=$samples --xsep_budget_s="$b" >>"$LOG" 2>&1
      rc=$?
      [ "$rc" -ne 0 ] && log "xsep_bench ($variant) exited with $rc: $(grep -E '^xsep_bench|error' "$LOG" | tail -1)"
      if [ -s "$TMP/bench-$variant.json" ]; then
        sed -i "s|\"xsepconv/|\"xsep$variant/|g" "$TMP/bench-$variant.json"
        bench_jsons+=("$TMP/bench-$variant.json")
      fi
    done
  fi
  if [ ${#bench_jsons[@]} -gt 0 ]; then
    $PY - "$RAW/xsep_bench.json" "${bench_jsons[@]}" <<'EOF'
import json, sys
sys.path.insert(0, "bench")
import report
docs = []
for p in sys.argv[2:]:
    try:
        docs += report.load_bench_docs(p)
    except Exception as e:
        print(f"merge: skipping {p}: {e}", file=sys.stderr)
json.dump(docs, open(sys.argv[1], "w"), indent=1)
print(f"merged {len(docs)} documents, {sum(len(d.get('benchmarks', [])) for d in docs)} entries")
EOF
  fi
elif [ "$do_bench" = 1 ]; then
  log "no xsep_bench binary: kernel benchmarks skipped"
fi

# ---- bench_torch.py (kernels vs PyTorch, end to end) -----------------------------------
torch_json=""
if [ "$do_torch" = 1 ] || [ "$do_e2e" = 1 ]; then
  tb=$(left); [ "$tb" -lt 30 ] && tb=30
  kb=$(( tb * 55 / 100 ))
  targs=(--lib "$PWD/$BUILD/libxsep.so" "${xsep_run_args[@]}" --out "$RAW/bench_torch.json"
         --budget-s "$tb" --kernels-budget-s "$kb" --models-dir "$TMP/models")
  [ "$quick" = 1 ] && targs+=(--quick)
  [ "$do_torch" = 1 ] || targs+=(--no-kernels)
  [ "$do_e2e" = 1 ] || targs+=(--no-e2e)
  log "bench_torch.py (budget ${tb}s, kernels ${kb}s)"
  log_from=$(( $(wc -l <"$LOG") + 1 ))
  PYTHONUNBUFFERED=1 deps timeout "$(hard $(( tb + 120 )))" $PY python_ref/bench_torch.py \
    "${targs[@]}" >>"$LOG" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] && log "bench_torch.py exited with $rc: $(grep -v '^\[bench' "$LOG" | tail -1)"
  # Exit 4: one of our kernels gave a wrong output (or an error status) on this
  # card against PyTorch: a failed GPU check, like a failed test. (1 is an
  # uncaught exception, 2 a missing device or library, 3 a broken section.)
  if [ "$rc" -eq 4 ]; then
    check "bench_torch.py: an xsep kernel row FAILED its output check against PyTorch (see bench.log)"
    check_failed=1
  fi
  tail -n +"$log_from" "$LOG" | grep -E "FAIL|failed|error" | grep -iv "error_occurred" | tail -5
  [ -s "$RAW/bench_torch.json" ] && torch_json="$RAW/bench_torch.json"
fi

# ---- Report ---------------------------------------------------------------------------
log "report (measurements took $(( $(date +%s) - t_meas ))s of ${budget}s; total $(elapsed)s)"
rargs=(--out-dir "$RES" --driver "${driver:-unknown}")
[ "$quick" = 1 ] && rargs+=(--suffix quick)  # <date>-<card>-quick.*: a later full run does not overwrite it
[ -n "$gpu_name" ] && rargs+=(--card "$gpu_name")
[ -s "$RAW/xsep_bench.json" ] && rargs+=(--bench "$RAW/xsep_bench.json")
[ -n "$torch_json" ] && rargs+=(--torch "$torch_json")
[ -s "$check_file" ] && rargs+=(--check "$check_file")
if [ "$do_bench" = 1 ] || [ "$do_torch" = 1 ] || [ "$do_e2e" = 1 ]; then
  $PY bench/report.py "${rargs[@]}" 2>&1 | tee -a "$LOG"
fi
log "done in $(elapsed)s; files: $(ls "$RES" | tr '\n' ' ')"
if [ -s "$check_file" ]; then
  echo "GPU tests on this card:"
  sed 's/^/  /' "$check_file"
fi
rm -rf "$TMP"
# Exit status: 1 when a GPU test failed or a sanitizer found errors (the measurements
# still ran); the table above says which.
exit "$check_failed"
