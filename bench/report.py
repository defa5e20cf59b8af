#!/usr/bin/env python3
"""Post-processes xsep_bench's Google Benchmark JSON (and bench_torch.py's JSON) into
bench/results/<date>-<card>.json and .md plus a PNG plot, and evaluates the targets of
issue 5 section 5 as met / missed / not measured with the measured ratio.

  python3 bench/report.py --bench xsep_bench.json [--bench more.json] [--torch torch.json]
                          [--out-dir bench/results] [--card h100-sxm] [--driver 580.159.04]

--bench files are Google Benchmark JSON documents (--benchmark_out_format=json), or a JSON
list of such documents (tools/bench.sh merges its chunks that way); a document cut short
by a timeout is repaired up to its last complete benchmark. Ratios are recomputed here
from the medians ("us" counter), so they do not depend on the order the binary ran in.
Only the standard library is needed; the plot uses matplotlib when it imports.
"""
import argparse
import datetime as _dt
import json
import math
import os
import re
import statistics
import sys

# The SPEC 6 napkin-math rate for compute floors (H100 SXM CUDA cores, float32 FMA/s);
# --fma-tflops overrides it. Memory floors use the copy measured in the same run.
DEFAULT_FMA_TFLOPS = 33.5

# xsepstream / xseptiled: the fused block with one of its two kernels forced
# (XSEP_XSEPCONV_KERNEL=stream / =tiled), each timed in its own xsep_bench process
# whose rows tools/bench.sh renames; xsepconv rows are the library's default choice.
OPS = ("xsepconv", "xsep3pass", "dwkxk", "cudnn", "xsepstream", "xseptiled")
FUSED_OPS = ("xsepconv", "xsep3pass", "xsepstream", "xseptiled")
NAME_RE = re.compile(r"^(?P<op>xsepconv|xsep3pass|dwkxk|cudnn|xsepstream|xseptiled)/(?P<dt>f16|f32)/(?P<lay>nchw|nhwc)/"
                     r"N(?P<n>\d+)_C(?P<c>\d+)_(?P<h>\d+)x(?P<w>\d+)/k(?P<k>\d+)/s(?P<s>\d+)$")
COPY_RE = re.compile(r"^copy/(?P<dt>f16|f32)/N(?P<n>\d+)_C(?P<c>\d+)_(?P<h>\d+)x(?P<w>\d+)/s(?P<s>\d+)$")
DRAM_SHAPES = {(64, 96, 56, 56), (32, 256, 56, 56)}


# ---------------------------------------------------------------- reading

def parse_name(name):
    """An xsep_bench row name (without /iterations:...) -> dict(op, dt, lay, n, c, h, w, k, s),
    lay and k None for a copy row; None for a name of neither form."""
    m = NAME_RE.match(name)
    if m:
        g = m.groupdict()
        return dict(op=g["op"], dt=g["dt"], lay=g["lay"], n=int(g["n"]), c=int(g["c"]), h=int(g["h"]),
                    w=int(g["w"]), k=int(g["k"]), s=int(g["s"]))
    m = COPY_RE.match(name)
    if m:
        g = m.groupdict()
        return dict(op="copy", dt=g["dt"], lay=None, n=int(g["n"]), c=int(g["c"]), h=int(g["h"]),
                    w=int(g["w"]), k=None, s=int(g["s"]))
    return None


def _repair(text):
    """A Google Benchmark JSON cut short: keep the benchmarks completed so far."""
    cut = text.rfind("\n    }")
    if cut < 0:
        raise ValueError("no complete benchmark entry")
    return json.loads(text[:cut + 6] + "\n  ]\n}\n")


def load_bench_docs(path):
    with open(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = _repair(text)
        print(f"report: {path}: truncated JSON, kept {len(data.get('benchmarks', []))} entries",
              file=sys.stderr)
    docs = data if isinstance(data, list) else [data]
    return [d for d in docs if isinstance(d, dict)]


def shape_key(n, c, h, w):
    return f"N{n}_C{c}_{h}x{w}"


def out_hw(h, w, s):
    return (h - 1) // s + 1, (w - 1) // s + 1


def io_bytes(dt, n, c, h, w, s):
    es = 2 if dt == "f16" else 4
    ho, wo = out_hw(h, w, s)
    return es * n * c * (h * w + ho * wo)


class Results:
    """Medians by benchmark: rows[(dt, lay, n, c, h, w, k, s)][op] = entry,
    copies[(dt, n, c, h, w, s)] = entry; entry = {"us", "label", "error", ...}."""

    def __init__(self):
        self.rows, self.copies, self.errors, self.context = {}, {}, [], {}

    def add_doc(self, doc):
        for k, v in (doc.get("context") or {}).items():
            self.context.setdefault(k, v)
        samples = {}
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = b.get("run_name") or b.get("name", "")
            name = name.split("/iterations:")[0].split("/manual_time")[0]
            if b.get("error_occurred"):
                if (name, b.get("error_message", "")) not in self.errors:  # once, not per repetition
                    self.errors.append((name, b.get("error_message", "")))
                continue
            us = b.get("us")
            if us is None:  # fall back on the reported (manual) time
                unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}.get(b.get("time_unit", "us"), 1.0)
                us = b.get("real_time", float("nan")) * unit
            samples.setdefault(name, []).append((us, b))
        for name, vals in samples.items():
            us = statistics.median(v for v, _ in vals)
            last = vals[-1][1]
            entry = {"us": us, "label": last.get("label", ""), "reps": len(vals),
                     "us_p10": last.get("us_p10"), "us_p90": last.get("us_p90"),
                     "cudnn_algo": last.get("cudnn_algo"), "graph": last.get("graph")}
            p = parse_name(name)
            if p is None:
                continue
            if p["op"] == "copy":
                self.copies[(p["dt"], p["n"], p["c"], p["h"], p["w"], p["s"])] = entry
            else:
                key = (p["dt"], p["lay"], p["n"], p["c"], p["h"], p["w"], p["k"], p["s"])
                self.rows.setdefault(key, {})[p["op"]] = entry

    def copy_us(self, key):
        dt, lay, n, c, h, w, k, s = key
        e = self.copies.get((dt, n, c, h, w, s))
        return e["us"] if e else None


# ---------------------------------------------------------------- derived numbers

def derive(res, fma_tflops):
    """One dict per (row, op) with every figure the tables, plot and targets need."""
    out = []
    for key, ops in sorted(res.rows.items()):
        dt, lay, n, c, h, w, k, s = key
        nbytes = io_bytes(dt, n, c, h, w, s)
        ho, wo = out_hw(h, w, s)
        outputs = n * c * ho * wo
        copy_us = res.copy_us(key)
        cudnn = ops.get("cudnn")
        for op, e in ops.items():
            us = e["us"]
            macs = (4 + 2 * k) if op in FUSED_OPS else k * k
            compute_floor_us = outputs * macs / (fma_tflops * 1e12) * 1e6
            mem_floor_us = copy_us
            floor = max(x for x in (compute_floor_us, mem_floor_us or 0.0))
            out.append({
                "op": op, "dtype": dt, "layout": lay, "shape": shape_key(n, c, h, w),
                "n": n, "c": c, "h": h, "w": w, "k": k, "stride": s,
                "dram": (n, c, h, w) in DRAM_SHAPES, "label": e.get("label", ""),
                "us": us, "us_p10": e.get("us_p10"), "us_p90": e.get("us_p90"),
                "bytes": nbytes, "GBps": nbytes / (us * 1e-6) / 1e9 if us else None,
                "copy_us": copy_us,
                "pct_copy": 100.0 * copy_us / us if copy_us and us else None,
                "x_cudnn": cudnn["us"] / us if cudnn and op != "cudnn" and us else None,
                "x_3pass": (ops["xsep3pass"]["us"] / us
                            if op == "xsepconv" and "xsep3pass" in ops and us else None),
                "compute_floor_us": compute_floor_us, "mem_floor_us": mem_floor_us,
                "pct_own_floor": 100.0 * floor / us if us and floor else None,
            })
    return out


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


# ---------------------------------------------------------------- targets (issue 5 section 5)

DRAM_KS = (3, 5, 7, 9, 13, 31)


def _target(name, values, threshold, unit, how, expected=None, failed=()):
    """values: [(ratio, where)]. expected: the `where` labels of a complete measurement
    (None: whatever was measured). failed: `where` labels of rows this target needs whose
    run failed (not a budget skip). The status:
      - "failed rows": a row the target needs failed (a wrong output, a launch error), so
        neither met nor missed can be said, whatever the other rows show;
      - "not measured": no value;
      - "missed": the worst value is below the threshold (a miss on a subset is a miss);
      - "met on a subset": every value reaches it, but expected rows are missing (a --quick
        run, a budget cut): the missing ones are listed;
      - "met"."""
    failed = sorted(set(failed))
    have = {w for _, w in values}
    missing = sorted(set(expected) - have) if expected is not None else []
    base = {"target": name, "threshold": threshold, "unit": unit, "how": how, "failed": failed,
            "missing": missing, "values": [{"value": v, "at": w} for v, w in values]}
    if not values:
        return dict(base, status="failed rows" if failed else "not measured", measured=None, worst_at=None)
    worst = min(values, key=lambda v: v[0])
    if failed:
        status = "failed rows"
    elif worst[0] < threshold:
        status = "missed"
    elif missing:
        status = "met on a subset"
    else:
        status = "met"
    return dict(base, status=status, measured=worst[0], worst_at=worst[1],
                median=statistics.median(v for v, _ in values))


# Error messages of rows that did not run, as opposed to rows that ran and failed:
# budget skips (xsep_bench, bench_torch) and a build or machine without cuDNN.
NOT_RUN = ("skipped", "built without cuDNN", "cuDNN unavailable")


def failed_rows(errors):
    """xsep_bench's errored rows, parsed like derive()'s rows, without the budget skips
    (those rows were not measured; they did not fail)."""
    out = []
    for name, msg in errors:
        p = parse_name(name)
        if p is None or str(msg).startswith(NOT_RUN):
            continue
        out.append({"op": p["op"], "dtype": p["dt"], "layout": p["lay"], "shape": shape_key(p["n"], p["c"], p["h"], p["w"]),
                    "k": p["k"], "stride": p["s"], "dram": (p["n"], p["c"], p["h"], p["w"]) in DRAM_SHAPES,
                    "message": msg})
    return out


def torch_row_failed(r):
    """A bench_torch kernel row that ran and failed: an error other than a budget skip,
    or (our rows) an output check that did not pass."""
    err = r.get("error")
    if err and not str(err).startswith(NOT_RUN):
        return True
    return r.get("variant", "").startswith("ours") and r.get("check") is not None and not r["check"].get("ok")


def row_label(e, prefix=""):
    """A failed row's `where`: shape and K, or the copy every K of the shape divides by."""
    return f"{prefix}{e['shape']} " + ("copy" if e["op"] == "copy" else f"K={e['k']}")


def evaluate_targets(rows, torch_doc, errors=()):
    t = []
    fused = lambda **kw: pick(rows, op="xsepconv", dram=True, **kw)  # noqa: E731
    dram_shapes = sorted(shape_key(*s) for s in DRAM_SHAPES)
    bad = failed_rows(errors)

    def failed(ops, label, **kw):
        """Labels of failed DRAM rows of `ops` matching kw; a copy row (no layout, no K)
        matches any layout and K."""
        return [label(e) for e in bad if e["op"] in ops and e["dram"] and
                all(e.get(a) is None or e.get(a) == v for a, v in kw.items())]

    def pct(rs, with_dtype=False):
        return [(r["pct_copy"], (f"{r['dtype']} " if with_dtype else "") + f"{r['shape']} K={r['k']}")
                for r in rs if r["pct_copy"] is not None]

    how_bw = "fused xsepconv, DRAM shapes, every K; worst case over shapes and K (% of copy GB/s)"
    for dt, need in (("f16", 80.0), ("f32", 75.0)):
        lays = ("nhwc",) if dt == "f16" else ("nhwc", "nchw")
        vals, exp, fail = [], [], []
        for lay in lays:
            tag = f"{lay.upper()} " if len(lays) > 1 else ""
            vals += [(v, tag + w) for v, w in pct(fused(dtype=dt, layout=lay, stride=1))]
            exp += [f"{tag}{shp} K={k}" for shp in dram_shapes for k in DRAM_KS]
            fail += failed(("xsepconv", "copy"), lambda e, tag=tag: row_label(e, tag), dtype=dt, layout=lay, stride=1)
        name = ("XSepConv f16 NHWC stride 1 >= 80% of copy" if dt == "f16"
                else "XSepConv f32 stride 1 (NHWC and NCHW) >= 75% of copy")
        t.append(_target(name, vals, need, "%", how_bw, exp, fail))
    t.append(_target("XSepConv stride 2 (f16 and f32 NHWC) >= 65% of copy",
                     pct(fused(layout="nhwc", stride=2), with_dtype=True), 65.0, "%", how_bw,
                     [f"{dt} {shp} K={k}" for dt in ("f16", "f32") for shp in dram_shapes for k in DRAM_KS],
                     failed(("xsepconv", "copy"), lambda e: row_label(e, f"{e['dtype']} "), layout="nhwc", stride=2)))
    for k, need in ((5, 1.5), (7, 2.0), (9, 3.0)):
        for dt, lay in (("f16", "nhwc"), ("f32", "nchw")):
            vals = [(r["x_cudnn"], r["shape"]) for r in fused(dtype=dt, layout=lay, stride=1, k=k)
                    if r["x_cudnn"] is not None]
            t.append(_target(f"XSepConv vs cuDNN KxK, K={k}, {dt} {lay.upper()} >= {need}x", vals, need, "x",
                             "cuDNN median / fused median, DRAM shapes, stride 1; worst shape", dram_shapes,
                             failed(("xsepconv", "cudnn"), lambda e: e["shape"], dtype=dt, layout=lay, stride=1,
                                    k=k)))
    for k in (3, 5):
        vals = [(r["x_cudnn"], r["shape"]) for r in pick(rows, op="dwkxk", dram=True, dtype="f16", layout="nhwc",
                                                         stride=1, k=k) if r["x_cudnn"] is not None]
        t.append(_target(f"our KxK vs cuDNN, K={k}, f16 NHWC >= 1.0x", vals, 1.0, "x",
                         "cuDNN median / dwkxk median, DRAM shapes, stride 1; worst shape", dram_shapes,
                         failed(("dwkxk", "cudnn"), lambda e: e["shape"], dtype="f16", layout="nhwc", stride=1,
                                k=k)))
    # From bench_torch.py. A row with an error other than a budget skip, or whose output
    # check failed, fails the targets that use its variant.
    kern = (torch_doc or {}).get("kernels", [])
    key = torch_time_key(kern)
    method = ("steady state: back-to-back calls over rotating inputs, as xsep_bench" if key == "us_steady"
              else "triton do_bench per call")

    def tus(variant, **kw):
        return {(r["shape"], r["k"], r["stride"], r["dtype"], r["layout"]): r[key] for r in kern
                if r.get("variant") == variant and r.get(key) and not torch_row_failed(r)
                and all(r.get(a) == b for a, b in kw.items())}

    def tkeys(variants, label, **kw):
        """`where` labels of every row of `variants` matching kw, measured or not: what a
        complete run has (a budget skip then shows as missing)."""
        return sorted({label((r.get("shape"), r.get("k"), r.get("stride"), r.get("dtype"), r.get("layout")))
                       for r in kern if r.get("variant") in variants and all(r.get(a) == b for a, b in kw.items())})

    def tfail(variants, **kw):
        return [f"{r.get('variant')} {r.get('shape')} K={r.get('k')}" for r in kern
                if r.get("variant") in variants and torch_row_failed(r) and all(r.get(a) == b for a, b in kw.items())]

    ours, native = tus("ours_kxk", k=7, dtype="f32", layout="nchw"), tus("torch_native_kxk", k=7, dtype="f32",
                                                                         layout="nchw")
    lab = lambda key: f"{key[0]} s{key[2]}"  # noqa: E731
    vals = [(native[key] / ours[key], lab(key)) for key in ours if key in native]
    t.append(_target("our KxK vs PyTorch native depthwise, K=7, f32 NCHW >= 2x", vals, 2.0, "x",
                     f"bench_torch.py: torch.backends.cudnn disabled F.conv2d / xsep_dwconvkxk ({method})",
                     tkeys(("ours_kxk", "torch_native_kxk"), lab, k=7, dtype="f32", layout="nchw"),
                     tfail(("ours_kxk", "torch_native_kxk"), k=7, dtype="f32", layout="nchw")))
    ours, unf = tus("ours_fused", n=64), tus("torch_xsep_unfused", n=64)
    lab = lambda key: f"{key[0]} K={key[1]} s{key[2]} {key[3]} {key[4]}"  # noqa: E731
    vals = [(unf[key] / ours[key], lab(key)) for key in ours if key in unf]
    t.append(_target("XSepConv vs PyTorch unfused XSepConv at batch 64 >= 4x", vals, 4.0, "x",
                     "bench_torch.py: pad + 3 depthwise convs + BN + hardswish (eager) / fused; worst config "
                     f"({method})",
                     tkeys(("ours_fused", "torch_xsep_unfused"), lab, n=64),
                     tfail(("ours_fused", "torch_xsep_unfused"), n=64)))
    e2e = (torch_doc or {}).get("e2e", [])
    # The end-to-end rows count only where they ran and their logits agree with the
    # reference (check_max_rel: max|diff| / max|logit|, within the README's runner
    # bounds, those of runner_vs_onnxruntime: 1e-4 float32, 1e-2 float16).
    e2e_bound = {"f32": 1e-4, "f16": 1e-2}

    def e2e_bad(r):
        if r.get("check_error") or (r.get("error") and not str(r["error"]).startswith(NOT_RUN)):
            return True
        c = r.get("check_max_rel")
        return c is not None and not (c <= e2e_bound.get(r.get("dtype"), 1e-4))

    def e2e_get(engine, **kw):
        for r in e2e:
            if r.get("engine") == engine and r.get("ms") and all(r.get(a) == b for a, b in kw.items()):
                return r
        return None

    def e2e_fail(engines, **kw):
        """Rows of `engines` matching kw that failed (ran with an error, or wrong logits)."""
        return [f"{r['engine']} {r.get('dtype')} batch {r.get('batch')}" for r in e2e
                if r.get("engine") in engines and all(r.get(a) == b for a, b in kw.items()) and e2e_bad(r)]

    vals, fail = [], []
    for dt, lay in (("f32", "nchw"), ("f16", "nhwc")):
        x = e2e_get("xsep_run", model="mbv3s-xsep", batch=1, dtype=dt)
        g = e2e_get("torch_graph", model="mbv3s-xsep", batch=1, dtype=dt)
        fail += e2e_fail(("xsep_run", "torch_graph"), model="mbv3s-xsep", batch=1, dtype=dt)
        if x and g and not e2e_bad(x) and not e2e_bad(g):
            vals.append((g["ms"] / x["ms"], f"{dt}"))
    t.append(_target("mbv3s-xsep batch-1 latency: xsep-run <= PyTorch CUDA graphs", vals, 1.0, "x",
                     "PyTorch-graph median ms / xsep-run median ms (>= 1 means xsep-run is no slower)",
                     ["f32", "f16"], fail))
    x = e2e_get("xsep_run", model="mbv3s-xsep", batch=256, dtype="f16")
    e = e2e_get("torch_eager", model="mbv3s-xsep", batch=256, dtype="f16", layout="nhwc")
    fail = (e2e_fail(("xsep_run",), model="mbv3s-xsep", batch=256, dtype="f16")
            + e2e_fail(("torch_eager",), model="mbv3s-xsep", batch=256, dtype="f16", layout="nhwc"))
    vals = [(x["images_per_s"] / e["images_per_s"], "f16 batch 256")] if x and e and not fail else []
    t.append(_target("mbv3s-xsep batch-256 f16 throughput: xsep-run >= PyTorch channels_last f16 eager", vals, 1.0,
                     "x", "images/s of xsep-run (f16 NHWC) / PyTorch eager (f16 channels_last)", ["f16 batch 256"],
                     fail))
    # SPEC 6 design goal: flat in K.
    vals = []
    for shp in sorted({r["shape"] for r in fused(dtype="f16", layout="nhwc", stride=1)}):
        by_k = {r["k"]: r["us"] for r in fused(dtype="f16", layout="nhwc", stride=1, shape=shp)}
        if 5 in by_k and 31 in by_k:
            vals.append((1.2 / (by_k[31] / by_k[5]), f"{shp}: t(K=31)/t(K=5) = {by_k[31] / by_k[5]:.2f}"))
    t.append(_target("(SPEC 6 design goal) XSepConv f16 NHWC: t(K=31) <= 1.2 x t(K=5)", vals, 1.0, "x",
                     "1.2 / (t(K=31)/t(K=5)); >= 1 means the goal holds"))
    return t


# ---------------------------------------------------------------- writing

# The same xsep kernels timed by both harnesses: xsep_bench (x rotating among buffers
# larger than L2, back-to-back launches in a CUDA graph: the steady state) and
# bench_torch.py (one call per sample after do_bench's L2 flush, which writes zeros: the
# timed call pays the flush's dirty write-back, and its own last dirty lines land after
# the end event). Their ratio is the timing methods' own disagreement, which every
# "against PyTorch" ratio carries on both sides; NOTES' "How to measure" discusses it.
CROSS_OPS = {"ours_fused": "xsepconv", "ours_kxk": "dwkxk"}


def torch_time_key(kern):
    """The bench_torch time the PyTorch targets use: "us_steady" (the steady state,
    xsep_bench's method) when every timed kernel row has it, else "us" (do_bench), so
    that a ratio never mixes the two methods."""
    timed = [r for r in kern if r.get("us")]
    return "us_steady" if timed and all(r.get("us_steady") for r in timed) else "us"


def timing_crosscheck(rows, torch_doc):
    ours = {(r["op"], r["dtype"], r["layout"], r["shape"], r["k"], r["stride"]): r for r in rows if r.get("us")}
    out = []
    for t in (torch_doc or {}).get("kernels", []):
        op = CROSS_OPS.get(t.get("variant"))
        if op is None or not t.get("us") or t.get("error"):
            continue
        r = ours.get((op, t["dtype"], t["layout"], t["shape"], t["k"], t["stride"]))
        if r is not None:
            out.append({"op": op, "dtype": t["dtype"], "layout": t["layout"], "shape": t["shape"], "k": t["k"],
                        "stride": t["stride"], "xsep_bench_us": r["us"], "bench_torch_us": t["us"],
                        "ratio": t["us"] / r["us"], "bench_torch_steady_us": t.get("us_steady"),
                        "ratio_steady": t["us_steady"] / r["us"] if t.get("us_steady") else None})
    return out


def crosscheck_line(cross):
    if not cross:
        return None
    def spread(name, values):
        v = sorted(values)
        return f"{name} median {statistics.median(v):.2f}, range {v[0]:.2f}-{v[-1]:.2f}" if v else f"{name} –"
    return (f"timing cross-check, bench_torch / xsep_bench on the same xsep kernels ({len(cross)} rows): "
            + spread("do_bench", [c["ratio"] for c in cross]) + "; "
            + spread("steady", [c["ratio_steady"] for c in cross if c.get("ratio_steady")]))


def fmt(v, spec=".1f", none="–"):
    return none if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def card_slug(name):
    s = re.sub(r"[^a-z0-9]+", "-", (name or "unknown-card").lower()).strip("-")
    s = re.sub(r"^nvidia-", "", s)
    return s or "unknown-card"


def markdown(meta, rows, targets, res, torch_doc, cross):
    kern = (torch_doc or {}).get("kernels", [])
    steady = torch_time_key(kern) == "us_steady"  # what the PyTorch targets use
    L = []
    L.append(f"# xsep benchmark results — {meta['date']}, {meta['card']}\n")
    L.append("Measured by `tools/bench.sh` (xsep_bench, python_ref/bench_torch.py), post-processed by "
             "`bench/report.py`. Times are medians; GB/s counts bytes(x) + bytes(y); % of copy is the "
             "device-to-device copy of the same byte count, measured in the same run, over the "
             "operator's time. L2 defeated by rotating buffers (xsep_bench, and bench_torch's steady times) / "
             "do_bench's cache flush (bench_torch's do_bench times). The PyTorch targets use bench_torch's "
             + ("steady times" if steady else "do_bench times (not every row has a steady time)") + ".\n")
    L.append("| | |\n|---|---|")
    for k in ("card", "driver", "cuda", "cudnn", "torch", "triton", "xsep", "bench_options"):
        if meta.get(k):
            L.append(f"| {k} | {meta[k]} |")
    L.append("")
    if meta.get("gpu_tests"):
        L.append("## GPU tests on this card (same build, before the measurements)\n")
        L += [f"- `{line}`" for line in meta["gpu_tests"]]
        L.append("")
    L.append("## Targets (issue 5 §5)\n")
    L.append("| target | status | measured (worst) | where | median |\n|---|---|---|---|---|")
    for t in targets:
        unit = t["unit"]
        m = fmt(t["measured"], ".1f" if unit == "%" else ".2f")
        L.append(f"| {t['target']} | **{t['status']}** | {m}{unit if t['measured'] is not None else ''} | "
                 f"{t['worst_at'] or '–'} | {fmt(t.get('median'), '.2f')} |")
    L.append("")
    notes = [t for t in targets if t.get("failed") or (t.get("missing") and t["values"])]
    if notes:
        L.append("Rows behind a status other than met / missed / not measured:\n")
        for t in notes:
            if t.get("failed"):
                L.append(f"- {t['target']}: failed rows (see Errors): {', '.join(t['failed'][:12])}")
            if t.get("missing") and t["values"]:
                L.append(f"- {t['target']}: not measured here ({len(t['missing'])}): {', '.join(t['missing'][:12])}"
                         + (" …" if len(t["missing"]) > 12 else ""))
        L.append("")
    L.append("How each is computed:\n")
    for t in targets:
        L.append(f"- *{t['target']}*: {t['how']}.")
    L.append("")

    for dram, title in ((True, "DRAM-sized tensors"), (False, "MobileNetV3-Small depthwise layers")):
        sel = [r for r in rows if r["dram"] == dram]
        if not sel:
            continue
        L.append(f"## {title}\n")
        L.append("us = median per launch; %copy = copy time / op time; x cuDNN = cuDNN time / op time; "
                 "floor% = max(memory floor = copy, compute floor at the nominal FMA rate) / time.\n")
        L.append("| dtype | layout | shape | K | s | fused us | fused %copy | fused x cuDNN | fused floor% | "
                 "3-pass us | fused x 3-pass | KxK us | KxK %copy | KxK x cuDNN | KxK floor% | cuDNN us | "
                 "cuDNN %copy | cuDNN floor% | cuDNN algo | layer |")
        L.append("|" + "---|" * 20)
        keys = sorted({(r["dtype"], r["layout"], r["n"], r["c"], r["h"], r["w"], r["k"], r["stride"]) for r in sel})
        by = {(r["dtype"], r["layout"], r["n"], r["c"], r["h"], r["w"], r["k"], r["stride"], r["op"]): r for r in sel}
        for key in keys:
            g = lambda op: by.get(key + (op,))  # noqa: E731
            f, t3, kk, cd = g("xsepconv"), g("xsep3pass"), g("dwkxk"), g("cudnn")
            label = next((r["label"] for r in (kk, f, t3) if r and r["label"]), "")
            algo = (cd["label"].split(" ")[0] if cd and cd["label"] else "–")
            L.append(
                f"| {key[0]} | {key[1]} | {shape_key(*key[2:6])} | {key[6]} | {key[7]} | "
                f"{fmt(f and f['us'], '.1f')} | {fmt(f and f['pct_copy'])} | {fmt(f and f['x_cudnn'], '.2f')} | "
                f"{fmt(f and f['pct_own_floor'])} | "
                f"{fmt(t3 and t3['us'], '.1f')} | {fmt(f and f['x_3pass'], '.2f')} | "
                f"{fmt(kk and kk['us'], '.1f')} | {fmt(kk and kk['pct_copy'])} | {fmt(kk and kk['x_cudnn'], '.2f')} | "
                f"{fmt(kk and kk['pct_own_floor'])} | "
                f"{fmt(cd and cd['us'], '.1f')} | {fmt(cd and cd['pct_copy'])} | {fmt(cd and cd['pct_own_floor'])} | "
                f"{algo} | "
                f"{'' if dram else label.split(';')[0]} |")
        L.append("")

    variant = lambda r: (r["dtype"], r["layout"], r["shape"], r["k"], r["stride"])  # noqa: E731
    forced = {op: {variant(r): r for r in rows if r["op"] == op} for op in ("xseptiled", "xsepstream")}
    keys = sorted(set(forced["xseptiled"]) | set(forced["xsepstream"]))
    if keys:
        default = {variant(r): r for r in rows if r["op"] == "xsepconv"}
        L.append("## Fused kernel variants: tiled vs row-streaming (each forced)\n")
        L.append("The default (`xsepconv` rows) is the row-streaming kernel for NHWC with K ≥ 11, "
                 "the tiled one otherwise.\n")
        L.append("| dtype | layout | shape | K | s | default us | tiled us | stream us | tiled / stream | "
                 "stream %copy |\n|---|---|---|---|---|---|---|---|---|---|")
        for key in keys:
            t, st, d = forced["xseptiled"].get(key), forced["xsepstream"].get(key), default.get(key)
            L.append(f"| {' | '.join(str(v) for v in key)} | {fmt(d and d['us'], '.1f')} | "
                     f"{fmt(t and t['us'], '.1f')} | {fmt(st and st['us'], '.1f')} | "
                     f"{fmt(t and st and st['us'] and t['us'] and t['us'] / st['us'], '.2f')} | "
                     f"{fmt(st and st['pct_copy'])} |")
        L.append("")

    if kern:
        L.append("## Against PyTorch (bench_torch.py)\n")
        L.append("| dtype | layout | shape | K | s | variant | do_bench us | steady us | check |\n"
                 "|---|---|---|---|---|---|---|---|---|")
        for r in kern:
            chk = r.get("check") or {}
            c = ("–" if not chk else ("info" if chk.get("info_only") else "ok" if chk.get("ok") else "FAIL") +
                 f" (rel L2 {fmt(chk.get('rel_l2'), '.1e')})")
            L.append(f"| {r['dtype']} | {r['layout']} | {r['shape']} | {r['k']} | {r['stride']} | {r['variant']} | "
                     f"{fmt(r.get('us'), '.1f') if not r.get('error') else 'error: ' + r['error'][:60]} | "
                     f"{fmt(r.get('us_steady'), '.1f')} | {c} |")
        L.append("")
    if cross:
        L.append("## Timing methods cross-check\n")
        L.append("The same xsep kernels timed by xsep_bench (buffer rotation, back-to-back launches in a CUDA "
                 "graph) and by bench_torch.py, both ways: do_bench (one call per sample after its L2 flush) "
                 "and steady (back-to-back calls over rotating inputs, CUDA events around batches). A ratio "
                 "away from 1 is the methods' own disagreement; the PyTorch targets use "
                 f"{'steady' if steady else 'do_bench'}.\n")
        L.append(crosscheck_line(cross) + "\n")
        L.append("| op | dtype | layout | shape | K | s | xsep_bench us | do_bench us | ratio | steady us | ratio |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|")
        for c in cross:
            L.append(f"| {c['op']} | {c['dtype']} | {c['layout']} | {c['shape']} | {c['k']} | {c['stride']} | "
                     f"{fmt(c['xsep_bench_us'], '.1f')} | {fmt(c['bench_torch_us'], '.1f')} | {fmt(c['ratio'], '.2f')} | "
                     f"{fmt(c['bench_torch_steady_us'], '.1f')} | {fmt(c['ratio_steady'], '.2f')} |")
        L.append("")
    e2e = (torch_doc or {}).get("e2e", [])
    if e2e:
        L.append("## End to end (mbv3s, mbv3s-xsep)\n")
        L.append("| model | batch | dtype | layout | engine | median ms | p90 ms | images/s | logits max\\|d\\|/max\\|ref\\| |\n"
                 "|---|---|---|---|---|---|---|---|---|")
        for r in e2e:
            L.append(f"| {r['model']} | {r['batch']} | {r['dtype']} | {r.get('layout', '')} | {r['engine']} | "
                     f"{fmt(r.get('ms'), '.3f') if not r.get('error') else 'error: ' + str(r['error'])[:60]} | "
                     f"{fmt(r.get('ms_p90'), '.3f')} | {fmt(r.get('images_per_s'), '.0f')} | "
                     f"{fmt(r.get('check_max_rel'), '.1e')} |")
        L.append("")
    if res.errors:
        L.append("## Benchmarks that did not run\n")
        for name, msg in res.errors[:60]:
            L.append(f"- `{name}`: {msg}")
        if len(res.errors) > 60:
            L.append(f"- … and {len(res.errors) - 60} more (see the JSON)")
        L.append("")
    return "\n".join(L) + "\n"


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001 - any import problem means no plot
        print(f"report: no plot ({type(e).__name__}: {e}); install matplotlib for {os.path.basename(path)}")
        return False
    sel = [r for r in rows if r["dram"] and r["pct_copy"] is not None]
    if not sel:
        print("report: no plot (no DRAM-shape rows with a copy baseline)")
        return False
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True, sharey=True)
    styles = {"xsepconv": ("ours: fused XSepConv", "-", "o"), "xsep3pass": ("ours: XSepConv 3 passes", ":", "^"),
              "dwkxk": ("ours: KxK depthwise", "--", "s"), "cudnn": ("cuDNN: KxK depthwise", "-.", "x")}
    shapes = sorted({r["shape"] for r in sel})
    colors = dict(zip(shapes, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for i, dt in enumerate(("f16", "f32")):
        for j, lay in enumerate(("nhwc", "nchw")):
            ax = axes[i][j]
            for op, (name, ls, mk) in styles.items():
                for shp in shapes:
                    pts = sorted((r["k"], r["pct_copy"]) for r in sel
                                 if r["op"] == op and r["dtype"] == dt and r["layout"] == lay and r["shape"] == shp
                                 and r["stride"] == 1)
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=mk, color=colors[shp],
                                label=f"{name}, {shp}")
            ax.set_title(f"{dt} {lay.upper()}, stride 1")
            ax.set_xscale("log", base=2)
            ax.set_xticks([3, 5, 7, 9, 13, 31])
            ax.set_xticklabels(["3", "5", "7", "9", "13", "31"])
            ax.axhline(100, color="grey", lw=0.5)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("K")
            if j == 0:
                ax.set_ylabel("% of copy bandwidth (bytes x + y)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Achieved % of device-to-device copy bandwidth vs K")
    fig.tight_layout(rect=(0, 0.1, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def summary_table(targets, rows, cross=()):
    lines = ["target                                                                   status        measured"]
    for t in targets:
        m = "–" if t["measured"] is None else (f"{t['measured']:.1f}%" if t["unit"] == "%" else f"{t['measured']:.2f}x")
        lines.append(f"{t['target'][:72]:<72} {t['status']:<13} {m}  {t['worst_at'] or ''}")
    sel = sorted((r for r in rows if r["dram"] and r["op"] == "xsepconv" and r["stride"] == 1),
                 key=lambda r: (r["dtype"], r["layout"], r["shape"], r["k"]))
    if sel:
        lines.append("")
        lines.append("fused XSepConv, DRAM, stride 1:  dtype layout shape            K   us      %copy  x cuDNN  x 3-pass")
        for r in sel:
            lines.append(f"{'':33}{r['dtype']:<6}{r['layout']:<7}{r['shape']:<17}{r['k']:<4}{fmt(r['us'], '.1f'):<8}"
                         f"{fmt(r['pct_copy']):<7}{fmt(r['x_cudnn'], '.2f'):<9}{fmt(r['x_3pass'], '.2f')}")
    if cross:
        lines += ["", crosscheck_line(cross)]
    return "\n".join(lines)


def cpu_smoke_run(torch_doc):
    """True for a bench_torch.py JSON written by `--device cpu` (a smoke run on the CPU against
    the emulated library: its times are not GPU numbers)."""
    ctx = (torch_doc or {}).get("context") or {}
    return bool(ctx.get("smoke_run")) or ctx.get("torch_device") == "cpu"


def read_check(path):
    """The GPU tests' result lines written by tools/bench.sh (ctest, compute-sanitizer), or None."""
    if not path:
        return None
    try:
        with open(path) as f:
            return [line.rstrip() for line in f if line.strip()]
    except OSError as e:
        print(f"report: skipping {path}: {e}", file=sys.stderr)
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", action="append", default=[], help="xsep_bench JSON (repeatable)")
    ap.add_argument("--torch", help="bench_torch.py JSON")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--card", help="card name for the file name and header (default: the JSON's device)")
    ap.add_argument("--driver", help="driver version (e.g. nvidia-smi's)")
    ap.add_argument("--cuda", help="CUDA version (default: the JSON's runtime)")
    ap.add_argument("--cudnn", help="cuDNN version (default: the JSON's)")
    ap.add_argument("--torch-version", help="torch version (default: bench_torch's JSON)")
    ap.add_argument("--date", help="YYYY-MM-DD (default: today, UTC)")
    ap.add_argument("--fma-tflops", type=float, default=DEFAULT_FMA_TFLOPS,
                    help=f"float32 FMA rate for compute floors, in T FMA/s (default {DEFAULT_FMA_TFLOPS}, H100 SXM)")
    ap.add_argument("--check", help="text file of the GPU tests' results on this card (tools/bench.sh), one line each")
    ap.add_argument("--suffix", help="appended to the file names: <date>-<card>-SUFFIX.json/.md/.png")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="do not print the summary table")
    args = ap.parse_args(argv)

    res = Results()
    for path in args.bench:
        try:
            for doc in load_bench_docs(path):
                res.add_doc(doc)
        except (OSError, ValueError) as e:
            print(f"report: skipping {path}: {e}", file=sys.stderr)
    torch_doc = None
    if args.torch:
        try:
            with open(args.torch) as f:
                torch_doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: skipping {args.torch}: {e}", file=sys.stderr)
        if cpu_smoke_run(torch_doc):
            print(f"report: {args.torch} comes from a CPU smoke run of bench_torch.py (--device cpu): its times "
                  "are not GPU numbers; refusing to report it", file=sys.stderr)
            return 2
    if not res.rows and not res.copies and not torch_doc:
        print("report: nothing to report (no benchmark rows)", file=sys.stderr)
        return 1

    ctx, tctx = res.context, (torch_doc or {}).get("context", {})
    card_name = args.card or ctx.get("device") or tctx.get("device") or "unknown card"
    meta = {
        "date": args.date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "card": card_name,
        "driver": args.driver or ctx.get("driver") or tctx.get("driver"),
        "cuda": args.cuda or ctx.get("cuda_runtime") or tctx.get("cuda"),
        "cudnn": args.cudnn or ctx.get("cudnn_version") or tctx.get("cudnn"),
        "torch": args.torch_version or tctx.get("torch"),
        "triton": tctx.get("triton"),
        "xsep": ctx.get("xsep_version"),
        "bench_options": ctx.get("xsep_bench_options"),
        "sm_count": ctx.get("sm_count"), "l2_bytes": ctx.get("l2_bytes"),
        "fma_tflops_for_floors": args.fma_tflops,
        "gpu_tests": read_check(args.check),
    }
    rows = derive(res, args.fma_tflops)
    targets = evaluate_targets(rows, torch_doc, res.errors)
    cross = timing_crosscheck(rows, torch_doc)

    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(args.out_dir, f"{meta['date']}-{card_slug(card_name)}"
                        + (f"-{card_slug(args.suffix)}" if args.suffix else ""))
    doc = {"meta": meta, "bench_context": ctx, "torch_context": tctx, "targets": targets, "rows": rows,
           "copies": [{"dtype": k[0], "shape": shape_key(*k[1:5]), "stride": k[5], "us": v["us"],
                       "GBps": io_bytes(k[0], *k[1:5], k[5]) / (v["us"] * 1e-6) / 1e9} for k, v in
                      sorted(res.copies.items())],
           "errors": [{"name": n, "message": m} for n, m in res.errors],
           "timing_crosscheck": cross,
           "torch": torch_doc}
    with open(stem + ".json", "w") as f:
        json.dump(doc, f, indent=1, default=str)
    with open(stem + ".md", "w") as f:
        f.write(markdown(meta, rows, targets, res, torch_doc, cross))
    wrote = [stem + ".json", stem + ".md"]
    if not args.no_plot and plot(rows, stem + ".png"):
        wrote.append(stem + ".png")
    print("report: wrote " + ", ".join(wrote))
    if not args.quiet:
        print(summary_table(targets, rows, cross))
    return 0


if __name__ == "__main__":
    sys.exit(main())
