#!/usr/bin/env bash
# Where a kernel's instructions go: for each row, Nsight Compute's instruction mix
# (executed instructions per SASS opcode), its warp-state and source counters
# (`--set full`), and the SASS source page (instructions executed per SASS line),
# summed per opcode by bench/sass_mix.py and printed, so that a tuning step starts
# from the instructions that cost, not from a guess (bench/NOTES.md, "First
# measurement"). Uses tools/bench.sh's build in
# build-bench/ (building it first, measurements off, when it is missing).
#
#   tools/ncu-source.sh [ROW ...]     default: the stream kernel's f16 NHWC K = 7 row
#                                      and our K x K at K = 3 (f16 NHWC)
#
# A row is xsep_bench's (e.g. xsepconv/f16/nhwc/N64_C96_56x56/k7/s1); the fused
# rows are profiled on the kernel the default picks unless XSEP_XSEPCONV_KERNEL
# is set. Writes, per row, to $OUT (else bench/results/raw/): <row>-opcodes.csv,
# <row>-details.txt, <row>-sass.csv (the device tool brings back 8 files: three
# rows at most). Never changes the GPU's clocks.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export PATH="${CUDA_HOME:-/usr/local/cuda}/bin:$PATH"
BIN=build-bench/bench/xsep_bench
if [ ! -x "$BIN" ]; then
  tools/bench.sh --no-check --no-bench --no-torch --no-e2e --deadline 120 >/dev/null 2>&1
  [ -x "$BIN" ] || { echo "ncu-source.sh: no $BIN after tools/bench.sh's build" >&2; exit 2; }
fi
command -v ncu >/dev/null || { echo "ncu-source.sh: ncu is not on PATH" >&2; exit 2; }
[ -f build-bench/run-env.sh ] && source build-bench/run-env.sh  # bench.sh's loader path
RES="${OUT:-bench/results/raw}"
mkdir -p "$RES"
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(xsepconv/f16/nhwc/N64_C96_56x56/k7/s1 dwkxk/f16/nhwc/N64_C96_56x56/k3/s1)
status=0
for row in "${rows[@]}"; do
  case "$row" in
    xsepconv/*) kernel='xsepconv' ;;
    dwkxk/*) kernel='dwconv_kernel' ;;
    *) echo "ncu-source.sh: no kernel known for row $row" >&2; status=2; continue ;;
  esac
  name=$(echo "$row" | tr '/' '_')
  run=("$BIN" --benchmark_filter="^$row/" --xsep_samples=1 --xsep_budget_s=30)
  echo "== $row"
  timeout 120 ncu --clock-control none -k "regex:$kernel" --launch-count 1 --csv --page raw \
    --metrics smsp__inst_executed.sum,sass__inst_executed_per_opcode --print-metric-instances details \
    "${run[@]}" >"$RES/$name-opcodes.csv" 2>&1 || { echo "  opcode mix: ncu exited with $?"; status=1; }
  rep=$(mktemp -u /tmp/xsep-ncu-XXXXXX)
  if timeout 180 ncu --clock-control none -k "regex:$kernel" --launch-count 1 --set full -o "$rep" \
       "${run[@]}" >"$RES/$name-details.txt" 2>&1; then
    ncu -i "$rep.ncu-rep" --page details --print-details all >>"$RES/$name-details.txt" 2>&1
    if ncu -i "$rep.ncu-rep" --page source --print-source sass --csv >"$RES/$name-sass.csv" 2>&1; then
      python3 bench/sass_mix.py "$row" "$RES/$name-sass.csv" --top 15  # instructions per opcode, per output
    else
      echo "  source page: ncu exited with $?"
    fi
  else
    echo "  --set full: ncu exited with $?"; status=1
  fi
  rm -f "$rep.ncu-rep"
  wc -c "$RES/$name"-* | sed 's/^/  /'
done
exit "$status"
