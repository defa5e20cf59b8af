# The row filters of tools/bench.sh, sourced by it and by bench/check_rows.py
# (CTest bench_rows), which holds them to xsep_bench's rows: the four chunks of
# a full run must split the rows with none left out and none timed twice.
# xsep_bench's rows are FAMILY/DTYPE[/LAYOUT]/SHAPE[/kK]/sS (FAMILY: xsepconv,
# xsep3pass, dwkxk, cudnn, copy; copy rows have no layout and no K); --benchmark_filter
# takes a POSIX extended regex (no lookahead).
XSEP_BENCH_DRAM='(N64_C96|N32_C256)_56x56/'
XSEP_BENCH_NET='(N1_|N256_|N64_C[0-9]+_(112x112|28x28|14x14|7x7)/|N64_C72_56x56/)'
# name;filter;percent of what is left of the xsep_bench share when the chunk starts
XSEP_BENCH_CHUNKS=(
  "dram-f16;^[a-z0-9]+/f16/(.*/)?$XSEP_BENCH_DRAM;30"
  "dram-f32;^[a-z0-9]+/f32/(.*/)?$XSEP_BENCH_DRAM;43"
  "net-f16;^[a-z0-9]+/f16/(.*/)?$XSEP_BENCH_NET;50"
  "net-f32;^[a-z0-9]+/f32/(.*/)?$XSEP_BENCH_NET;100"
)
# --quick: N64_C96_56x56, K in {3,5,7,9}, stride 1 and 2, f16 NHWC and f32 in both
# layouts (and their copies): a row for every kernel target of issue 5
XSEP_BENCH_QUICK="quick;^[a-z0-9]+/(f16/(nhwc/)?|f32/((nchw|nhwc)/)?)N64_C96_56x56/(k(3|5|7|9)/)?s(1|2)/;100"
# The fused block's DRAM rows, run again with each fused kernel forced
XSEP_BENCH_FUSED_DRAM="^xsepconv/[a-z0-9]+/[a-z]+/$XSEP_BENCH_DRAM"
