#!/usr/bin/env python3
"""Holds xsep_bench's rows to what tools/bench.sh and bench/report.py expect of them.

    python3 bench/check_rows.py path/to/xsep_bench

A GPU session has minutes, so a row renamed in bench_kernels.cpp, or a filter edited in
bench/filters.sh, must fail here (CTest bench_rows, in CI's CUDA build) and not drop rows
from the one run that measures. Needs no GPU: the binary lists its rows
(--benchmark_list_tests, with each filter of bench/filters.sh) without one. Checks:
  - every row parses with report.py's NAME_RE / COPY_RE, and every shape has its copy row;
  - the shapes of issue 5: both DRAM tensors x K in {3,5,7,9,13,31} x stride 1, 2 x dtype x
    layout for every timed family, and network layers at batch 1, 64 and 256;
  - the four chunks of a full run split the rows: none left out, none timed twice;
  - --quick selects exactly its subset, and the forced-kernel run exactly the fused DRAM rows.
"""
import itertools
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

ISSUE_KS = (3, 5, 7, 9, 13, 31)
QUICK_KS = (3, 5, 7, 9)


def list_rows(binary, flt=None):
    cmd = [binary, "--benchmark_list_tests"] + ([f"--benchmark_filter={flt}"] if flt else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("/iterations:")[0] for line in out.splitlines() if line.strip()]


def filters():
    """bench/filters.sh's definitions, as bash sees them."""
    script = (f"source {shlex.quote(os.path.join(HERE, 'filters.sh'))}; printf '%s\\n' \"${{XSEP_BENCH_CHUNKS[@]}}\"; "
              "echo \"$XSEP_BENCH_QUICK\"; echo \"$XSEP_BENCH_FUSED_DRAM\"")
    lines = subprocess.run(["bash", "-c", script], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    chunks = [tuple(line.split(";")) for line in lines[:-2]]
    return chunks, tuple(lines[-2].split(";")), lines[-1]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    binary = argv[1]
    problems = []
    rows = list_rows(binary)
    if len(rows) != len(set(rows)):
        problems.append("duplicate row names")
    parsed = {}
    for r in rows:
        p = report.parse_name(r)
        if p is None:
            problems.append(f"{r}: report.py cannot parse this name")
        else:
            parsed[r] = p
    copies = {(p["dt"], p["n"], p["c"], p["h"], p["w"], p["s"]) for p in parsed.values() if p["op"] == "copy"}
    for r, p in parsed.items():
        if p["op"] != "copy" and (p["dt"], p["n"], p["c"], p["h"], p["w"], p["s"]) not in copies:
            problems.append(f"{r}: no copy row for its shape (report.py's pct_copy needs one)")

    # The shapes of issue 5.
    have = {(p["op"], p["dt"], p["lay"], p["n"], p["c"], p["h"], p["w"], p["k"], p["s"])
            for p in parsed.values()}
    families = ["xsepconv", "xsep3pass", "dwkxk"] + (["cudnn"] if any(p["op"] == "cudnn" for p in parsed.values()) else [])
    for op, (n, c, h, w), k, s, dt, lay in itertools.product(
            families, sorted(report.DRAM_SHAPES), ISSUE_KS, (1, 2), ("f16", "f32"), ("nchw", "nhwc")):
        if (op, dt, lay, n, c, h, w, k, s) not in have:
            problems.append(f"missing {op}/{dt}/{lay}/{report.shape_key(n, c, h, w)}/k{k}/s{s}")
    for op in families:
        batches = {p["n"] for p in parsed.values() if p["op"] == op and (p["n"], p["c"], p["h"], p["w"]) not in report.DRAM_SHAPES}
        if not {1, 64, 256} <= batches:
            problems.append(f"{op}: network layers at batches {sorted(batches)}, not 1, 64 and 256")

    # The chunks of a full run split the rows.
    chunks, quick, fused_dram = filters()
    seen = {}
    for name, flt, _pct in chunks:
        for r in list_rows(binary, flt):
            if r in seen:
                problems.append(f"{r}: in chunks {seen[r]} and {name} (timed twice)")
            seen[r] = name
    for r in rows:
        if r not in seen:
            problems.append(f"{r}: in no chunk of a full run (never timed)")

    # --quick: N64_C96_56x56, K in QUICK_KS, strides 1 and 2, f16 NHWC and f32 NCHW / NHWC, and their copies.
    def in_quick(p):
        if (p["n"], p["c"], p["h"], p["w"]) != (64, 96, 56, 56) or p["s"] not in (1, 2):
            return False
        if p["op"] == "copy":
            return True
        return (p["dt"], p["lay"]) in (("f16", "nhwc"), ("f32", "nchw"), ("f32", "nhwc")) and p["k"] in QUICK_KS
    want = sorted(r for r, p in parsed.items() if in_quick(p))
    got = sorted(list_rows(binary, quick[1]))
    if got != want:
        problems.append(f"--quick selects {len(got)} rows, expected {len(want)}: "
                        f"extra {sorted(set(got) - set(want))[:4]}, missing {sorted(set(want) - set(got))[:4]}")

    want = sorted(r for r, p in parsed.items()
                  if p["op"] == "xsepconv" and (p["n"], p["c"], p["h"], p["w"]) in report.DRAM_SHAPES)
    got = sorted(list_rows(binary, fused_dram))
    if got != want:
        problems.append(f"the forced-kernel filter selects {len(got)} rows, expected the {len(want)} fused DRAM rows")

    for p in problems[:40]:
        print("bench_rows:", p)
    if len(problems) > 40:
        print(f"bench_rows: ... and {len(problems) - 40} more")
    counts = ", ".join(f"{sum(p['op'] == f for p in parsed.values())} {f}" for f in families + ["copy"])
    per_chunk = ", ".join(f"{n} {sum(v == n for v in seen.values())}" for n, _f, _p in chunks)
    print(f"bench_rows: {len(rows)} rows ({counts}); chunks {per_chunk}; quick {len(list_rows(binary, quick[1]))}; "
          f"forced-kernel {len(want)}: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
