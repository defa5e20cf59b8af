#!/usr/bin/env python3
"""Turns tools/ncu.sh's Nsight Compute CSV logs into the table that tests bench/NOTES.md's
model: per kernel launch, time, DRAM bytes against the minimum, shared-memory wavefronts and
bank conflicts per output, instructions per output, registers and achieved occupancy.

  python3 bench/ncu_table.py LOG.csv [LOG.csv ...] [--json OUT.json]

Each LOG is `ncu --csv --page raw --log-file LOG` output for one xsep_bench row; its file
name is <variant>__<row with '/' as '~'>.csv (tools/ncu.sh writes them so), which gives the
shape and dtype the per-output figures need.
"""
import argparse
import csv
import io
import json
import os
import re
import sys

METRICS = [
    "gpu__time_duration.sum",
    "dram__bytes_read.sum",
    "dram__bytes_write.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum",
    "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
    "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum",
    "smsp__inst_executed.sum",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "launch__registers_per_thread",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
]

ROW_RE = re.compile(r"^(?P<op>[a-z0-9]+)/(?P<dtype>f16|f32)/(?P<layout>nchw|nhwc)/"
                    r"N(?P<n>\d+)_C(?P<c>\d+)_(?P<h>\d+)x(?P<w>\d+)/k(?P<k>\d+)/s(?P<s>\d+)$")


def parse_row(name):
    """xsep_bench row name -> dict with the shape, outputs and minimal DRAM bytes (x + y)."""
    m = ROW_RE.match(name)
    if not m:
        raise ValueError(f"not an xsep_bench kernel row: {name!r}")
    d = {k: (int(v) if v.isdigit() else v) for k, v in m.groupdict().items()}
    ho, wo = (d["h"] - 1) // d["s"] + 1, (d["w"] - 1) // d["s"] + 1
    esz = 2 if d["dtype"] == "f16" else 4
    d["outputs"] = d["n"] * d["c"] * ho * wo
    d["min_bytes"] = esz * (d["n"] * d["c"] * d["h"] * d["w"] + d["outputs"])
    return d


# Units ncu may print (tools/ncu.sh asks for base units; a capture without
# --print-units base scales them per metric and launch), as factors to the base unit.
UNIT_FACTORS = {
    "nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9,
    "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "Tbyte": 1e12,
    "KB": 1e3, "MB": 1e6, "GB": 1e9,
}


def number(v):
    try:
        return float(str(v).replace(",", ""))
    except ValueError:
        return None


def read_ncu_csv(text):
    """Rows of `ncu --csv --page raw` output as dicts, every value in its metric's base
    unit (ns, bytes) by the units row under the header. Lines before the header (ncu's
    own messages) are ignored. A unit of time or size not in UNIT_FACTORS is an error
    rather than a number off by 10^3."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        return []
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[start:]))))
    units = next((r for r in rows if not r.get("ID", "").strip()), {})
    data = [r for r in rows if r.get("ID", "").strip().isdigit()]
    for col, unit in units.items():
        unit = (unit or "").strip()
        if col not in METRICS or not unit:
            continue
        if unit not in UNIT_FACTORS:
            if re.search(r"second|byte", unit, re.I):
                raise ValueError(f"{col}: unit {unit!r} not understood")
            continue  # counts, percentages, "register/thread", ...
        for r in data:
            v = number(r.get(col))
            if v is not None:
                r[col] = v * UNIT_FACTORS[unit]
    return data


def summarize(variant, row_name, rec):
    d = parse_row(row_name)
    g = {m: number(rec.get(m)) for m in METRICS}
    out = dict(variant=variant, row=row_name, kernel=rec.get("Kernel Name", "")[:60], **d)
    ns = g["gpu__time_duration.sum"]
    out["us"] = ns / 1000.0 if ns is not None else None
    rd, wr = g["dram__bytes_read.sum"], g["dram__bytes_write.sum"]
    out["dram_mb"] = (rd + wr) / 1e6 if rd is not None and wr is not None else None
    out["dram_over_min"] = (rd + wr) / d["min_bytes"] if out["dram_mb"] is not None else None
    per = lambda v: v / d["outputs"] if v is not None else None  # noqa: E731
    out["smem_ld_wf_per_out"] = per(g["l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum"])
    out["smem_st_wf_per_out"] = per(g["l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum"])
    out["conflicts_per_out"] = (per(g["l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum"] or 0) +
                                per(g["l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum"] or 0))
    # Instructions are counted per warp: x32 lanes gives thread-instructions per output.
    out["inst_per_out"] = per(g["smsp__inst_executed.sum"] * 32) if g["smsp__inst_executed.sum"] else None
    out["occupancy_pct"] = g["sm__warps_active.avg.pct_of_peak_sustained_active"]
    out["registers"] = g["launch__registers_per_thread"]
    out["dram_pct_peak"] = g["dram__throughput.avg.pct_of_peak_sustained_elapsed"]
    return out


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def table(rows):
    head = ("| variant | row | µs | DRAM MB (× min) | smem wavefronts/out ld + st | conflicts/out | "
            "inst/out | regs | occupancy % | DRAM % peak |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['row']} | {fmt(r['us'], '.1f')} | {fmt(r['dram_mb'], '.1f')} "
            f"({fmt(r['dram_over_min'], '.2f')}) | {fmt(r['smem_ld_wf_per_out'], '.2f')} + "
            f"{fmt(r['smem_st_wf_per_out'], '.2f')} | {fmt(r['conflicts_per_out'], '.2f')} | "
            f"{fmt(r['inst_per_out'], '.0f')} | {fmt(r['registers'], '.0f')} | {fmt(r['occupancy_pct'], '.0f')} | "
            f"{fmt(r['dram_pct_peak'], '.0f')} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--json", help="also write the rows as JSON")
    a = ap.parse_args(argv)
    rows = []
    for path in a.logs:
        base = os.path.basename(path)[:-len(".csv")] if path.endswith(".csv") else os.path.basename(path)
        if "__" not in base:
            print(f"ncu_table: {path}: expected <variant>__<row>.csv", file=sys.stderr)
            continue
        variant, row = base.split("__", 1)
        row = row.replace("~", "/")
        with open(path, errors="replace") as f:
            try:
                recs = read_ncu_csv(f.read())
            except ValueError as e:  # one unreadable log does not cost the others
                print(f"ncu_table: {path}: {e}", file=sys.stderr)
                continue
        if not recs:
            print(f"ncu_table: {path}: no profiled kernel (see the log)", file=sys.stderr)
            continue
        rows.append(summarize(variant, row, recs[0]))
    print(table(rows))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
