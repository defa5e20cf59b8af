"""Where a kernel's instructions go, from Nsight Compute's SASS source page
(`ncu -i REP --page source --print-source sass --csv`, written by
tools/ncu-source.sh): executed instructions per opcode (predicates and
modifiers dropped: `@!P0 IMAD.WIDE.U32` counts as IMAD), per output element of
the row, with each opcode's share of the warp-stall samples.

    python3 bench/sass_mix.py ROW SASS_CSV [--top N]

ROW is xsep_bench's row (e.g. xsepconv/f16/nhwc/N64_C96_56x56/k7/s1), which gives
the output count. Thread-instructions per output = warp-instructions x 32 /
outputs, as in ncu_table.py (inactive lanes counted: an upper bound).
"""
import argparse
import collections
import csv
import re
import sys

import ncu_table


def opcode(source):
    """The opcode of one SASS line without its predicate and modifiers."""
    s = re.sub(r"^@!?U?P[T0-9]+\s+", "", source.strip())
    return s.split()[0].split(".")[0] if s else "?"


def mix(text):
    """{opcode: (warp-instructions, stall samples)} from the source page's CSV."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"Address"'))
    counts = collections.defaultdict(lambda: [0, 0])
    for row in csv.DictReader(lines[start:]):
        try:
            n = int(row["Instructions Executed"].replace(",", ""))
        except (KeyError, ValueError):
            continue
        c = counts[opcode(row["Source"])]
        c[0] += n
        try:
            c[1] += int(row.get("Warp Stall Sampling (All Samples)", "0").replace(",", ""))
        except ValueError:
            pass
    return {op: tuple(v) for op, v in counts.items()}


def table(row, text, top=20):
    outputs = ncu_table.parse_row(row)["outputs"]
    m = mix(text)
    total = sum(n for n, _ in m.values())
    stalls = sum(s for _, s in m.values()) or 1
    out = [f"{row}: {total * 32 / outputs:.1f} thread-instructions per output",
           "| opcode | per output | share % | stall samples % |", "|---|---|---|---|"]
    for op, (n, s) in sorted(m.items(), key=lambda kv: -kv[1][0])[:top]:
        out.append(f"| {op} | {n * 32 / outputs:.1f} | {100 * n / total:.1f} | {100 * s / stalls:.1f} |")
    return "\n".join(out)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("row")
    ap.add_argument("sass_csv")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args(argv)
    with open(a.sass_csv) as f:
        print(table(a.row, f.read(), a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
