#!/usr/bin/env bash
# Nsight Compute counters of the key kernels, to test bench/NOTES.md's model where
# timings alone cannot: shared-memory wavefronts and bank conflicts per output, DRAM
# bytes against the minimum, instructions per output, registers, achieved occupancy.
# Run by tools/bench.sh --ncu (after the tests, before the measurements), or on its own
# after bench.sh on the same machine: it uses bench.sh's build in build-bench/ (nothing
# is rebuilt).
#
#   tools/ncu.sh [--quick] [--seconds S]
#
# --seconds S: stop within S seconds (each row's ncu gets at most what is left, and at
# most 120 s; rows that no longer fit are skipped and named). A limit from outside
# (timeout tools/ncu.sh) would not reach ncu: each row's `timeout` runs it in a
# process group of its own, which is what lets it stop ncu and the profiled
# xsep_bench together.
#
# One ncu process per (variant, row): the first launch of the row's xsep kernel (the
# output check, on a cold cache: ncu flushes caches before each replay pass) is
# profiled. Rows: N64_C96_56x56 stride 1 at K = 7 (f16 NHWC, f32 NHWC, f32 NCHW),
# K = 13 and K = 31 (f16 NHWC), the fused kernel as tiled and stream, and our K x K at
# K = 3, 5, 7 (f16 NHWC); --quick: f16 NHWC K = 7 only. About 5-10 s per row.
# Writes $OUT/ncu.md (the table, also printed last) and $OUT/ncu.json, or bench/results/raw/.
# Never changes the GPU's clocks (--clock-control none).
set -uo pipefail
shopt -s nullglob  # no log at all: an empty array (caught below), not a literal '*'
cd "$(dirname "$0")/.." || exit 1
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"  # ncu beside nvcc, as bench.sh has it
BIN=build-bench/bench/xsep_bench
[ -x "$BIN" ] || { echo "ncu.sh: $BIN not found: run tools/bench.sh first (same machine)" >&2; exit 2; }
command -v ncu >/dev/null || { echo "ncu.sh: ncu is not on PATH" >&2; exit 2; }
[ -f build-bench/run-env.sh ] && source build-bench/run-env.sh  # bench.sh's loader path (cuDNN, Benchmark)
RES="${OUT:-bench/results/raw}"
mkdir -p "$RES"
LOGS=$(mktemp -d /tmp/xsep-ncu.XXXXXX)
METRICS=$(python3 -c 'import sys; sys.path.insert(0, "bench"); import ncu_table; print(",".join(ncu_table.METRICS))')

shape=N64_C96_56x56
quick=0 seconds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --seconds) seconds="$2"; shift ;;
    *) echo "ncu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
t_end=$(( $(date +%s) + seconds ))

if [ "$quick" = 1 ]; then
  fused=("f16/nhwc/$shape/k7/s1")
  kxk=()
else
  fused=("f16/nhwc/$shape/k7/s1" "f32/nhwc/$shape/k7/s1" "f32/nchw/$shape/k7/s1" "f16/nhwc/$shape/k13/s1"
         "f16/nhwc/$shape/k31/s1")
  kxk=("f16/nhwc/$shape/k3/s1" "f16/nhwc/$shape/k5/s1" "f16/nhwc/$shape/k7/s1")
fi

profile() {  # variant kernel_regex row [env...]
  local variant="$1" regex="$2" row="$3"; shift 3
  local log="$LOGS/${variant}__${row//\//\~}.csv"
  local limit=120
  if [ "$seconds" -gt 0 ]; then
    local left=$(( t_end - $(date +%s) ))
    [ "$left" -lt 15 ] && { echo "ncu: $variant $row skipped (${left}s left of --seconds $seconds)"; return; }
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  echo "ncu: $variant $row (at most ${limit}s)"
  env "$@" timeout "$limit" ncu --clock-control none --csv --page raw --print-units base --metrics "$METRICS" \
    -k "regex:$regex" --launch-count 1 --log-file "$log" \
    "$BIN" --benchmark_filter="^$row/" --xsep_samples=1 --xsep_budget_s=30 >"$LOGS/stdout.txt" 2>&1 ||
    { echo "  ncu exited with $?: $(tail -2 "$LOGS/stdout.txt" | tr '\n' ' ')"; tail -3 "$log" 2>/dev/null; }
}

for r in "${fused[@]}"; do
  profile tiled 'xsepconv_kernel' "xsepconv/$r" XSEP_XSEPCONV_KERNEL=tiled
  profile stream 'xsepconv_stream_kernel' "xsepconv/$r" XSEP_XSEPCONV_KERNEL=stream
done
for r in "${kxk[@]}"; do
  profile dwkxk 'dwconv_kernel' "dwkxk/$r"
done

logs=("$LOGS"/*__*.csv)
[ ${#logs[@]} -gt 0 ] || { echo "ncu.sh: no profile was written (see the lines above)" >&2; rm -rf "$LOGS"; exit 1; }
python3 bench/ncu_table.py "${logs[@]}" --json "$RES/ncu.json" | tee "$RES/ncu.md"
rc=$?  # the table's status (pipefail), not rm's
rm -rf "$LOGS"
exit "$rc"
