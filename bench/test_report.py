# Checks bench/report.py on SYNTHETIC input (no GPU needed): Google Benchmark JSON shaped
# like xsep_bench's (names, counters, an errored entry, a document cut short) and a
# bench_torch.py JSON. The numbers are made up: they only exercise the code paths.
#   python3 -m pytest -q bench/test_report.py
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUFFIX = "/iterations:1/manual_time"


def _entry(name, us, label="", **counters):
    e = {"name": name + SUFFIX, "run_name": name + SUFFIX, "run_type": "iteration", "repetitions": 1,
         "repetition_index": 0, "threads": 1, "iterations": 1, "real_time": us, "cpu_time": 1.0,
         "time_unit": "us", "us": us, "label": label}
    e.update(counters)
    return e


def synthetic_bench():
    """DRAM shapes, both dtypes and layouts, stride 1 and 2, every K: made-up medians."""
    out = []
    for dt, es in (("f16", 2), ("f32", 4)):
        for n, c in ((64, 96), (32, 256)):
            for s in (1, 2):
                ho = (56 - 1) // s + 1
                nbytes = es * n * c * (56 * 56 + ho * ho)
                copy_us = nbytes / 3.0e12 * 1e6
                shp = f"N{n}_C{c}_56x56"
                out.append(_entry(f"copy/{dt}/{shp}/s{s}", copy_us, "copy"))
                for lay in ("nhwc", "nchw"):
                    for k in (3, 5, 7, 9, 13, 31):
                        key = f"{dt}/{lay}/{shp}/k{k}/s{s}"
                        out.append(_entry(f"cudnn/{key}", copy_us * (1.2 + 0.05 * k * k), "IMPLICIT_GEMM float dram",
                                          cudnn_algo=0.0))
                        out.append(_entry(f"dwkxk/{key}", copy_us * (1.1 + 0.03 * k * k), "dram"))
                        out.append(_entry(f"xsepconv/{key}", copy_us * (1.15 + 0.01 * k), "dram"))
                        out.append(_entry(f"xsep3pass/{key}", copy_us * (3.5 + 0.02 * k), "dram"))
                        # The two fused kernels forced (tools/bench.sh renames their rows).
                        out.append(_entry(f"xseptiled/{key}", copy_us * (1.15 + 0.5 * k), "dram"))
                        out.append(_entry(f"xsepstream/{key}", copy_us * (1.25 + 0.01 * k), "dram"))
    # A network layer and an errored entry.
    out.append(_entry("copy/f16/N1_C240_14x14/s1", 2.0, "copy"))
    out.append(_entry("xsepconv/f16/nhwc/N1_C240_14x14/k5/s1", 3.0, "mbv3s b5,b6; mbv3s-xsep b5,b6 (XSepConv K=5)"))
    err = _entry("cudnn/f16/nhwc/N1_C240_14x14/k5/s1", 0.0)
    err.update(error_occurred=True, error_message="synthetic error")
    out.append(err)
    return {"context": {"device": "SYNTHETIC TEST CARD", "cuda_runtime": "13.0", "cudnn_version": "9.0.0",
                        "xsep_version": "100"}, "benchmarks": out}


def synthetic_torch():
    kern, e2e = [], []
    for dt, lay in (("f16", "nhwc"), ("f32", "nchw")):
        for k in (5, 7):
            base = dict(shape="N64_C96_56x56", n=64, c=96, h=56, w=56, k=k, stride=1, dtype=dt, layout=lay)
            for variant, us in (("ours_fused", 30.0), ("ours_kxk", 40.0), ("torch_conv2d", 90.0),
                                ("torch_native_kxk", 100.0), ("torch_xsep_unfused", 150.0)):
                kern.append(dict(base, variant=variant, us=us,
                                 check={"ok": True, "rel_l2": 1e-6, "max_rel": 1e-6} if variant.startswith("ours") else None))
    for engine, ms in (("xsep_run", 1.0), ("torch_graph", 1.1), ("torch_eager", 3.0)):
        e2e.append(dict(model="mbv3s-xsep", batch=1, dtype="f32", layout="nchw", engine=engine, ms=ms, ms_p90=ms,
                        images_per_s=1000 / ms))
    for engine, ms in (("xsep_run", 20.0), ("torch_eager", 25.0)):
        e2e.append(dict(model="mbv3s-xsep", batch=256, dtype="f16", layout="nhwc", engine=engine, ms=ms, ms_p90=ms,
                        images_per_s=256000 / ms))
    return {"context": {"torch": "0.0-synthetic", "device": "SYNTHETIC TEST CARD"}, "kernels": kern, "e2e": e2e}


def test_report_on_synthetic_input(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps([synthetic_bench()], indent=2))
    # A second document cut short in the middle of an entry (a chunk killed by a timeout).
    cut = json.dumps(synthetic_bench(), indent=2)
    (tmp_path / "cut.json").write_text(cut[: len(cut) // 2])
    torch = tmp_path / "torch.json"
    torch.write_text(json.dumps(synthetic_torch()))
    out = tmp_path / "results"
    check = tmp_path / "check.txt"
    check.write_text("ctest: 95% tests passed, 1 tests failed out of 20; FAILED: kernels_nan\n"
                     "memcheck: exit 0 (clean): ========= ERROR SUMMARY: 0 errors\n")
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--bench", str(bench), "--bench",
                        str(tmp_path / "cut.json"), "--torch", str(torch), "--out-dir", str(out),
                        "--date", "2000-01-01", "--driver", "0.0", "--check", str(check)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((out / "2000-01-01-synthetic-test-card.json").read_text())
    md = (out / "2000-01-01-synthetic-test-card.md").read_text()
    status = {t["target"]: t["status"] for t in doc["targets"]}
    measured = {t["target"]: t.get("measured") for t in doc["targets"]}
    # From synthetic_bench's formulas: fused = copy * (1.15 + 0.01 K), worst at K = 31;
    # cuDNN = copy * (1.2 + 0.05 K^2).
    worst = 100 / (1.15 + 0.01 * 31)
    assert status["XSepConv f16 NHWC stride 1 >= 80% of copy"] == "missed"
    assert abs(measured["XSepConv f16 NHWC stride 1 >= 80% of copy"] - worst) < 1e-9
    assert status["XSepConv stride 2 (f16 and f32 NHWC) >= 65% of copy"] == "met"
    k5 = "XSepConv vs cuDNN KxK, K=5, f16 NHWC >= 1.5x"
    assert status[k5] == "met" and abs(measured[k5] - (1.2 + 0.05 * 25) / (1.15 + 0.05)) < 1e-9
    assert all(v != "not measured" for v in status.values()), status
    assert "synthetic error" in md
    # The GPU tests' lines, as tools/bench.sh wrote them, in the JSON and the Markdown.
    assert doc["meta"]["gpu_tests"] == check.read_text().splitlines()
    assert "## GPU tests on this card" in md and "- `ctest: 95% tests passed" in md and "FAILED: kernels_nan" in md
    row = next(x for x in doc["rows"] if x["op"] == "xsepconv" and x["dtype"] == "f16" and x["layout"] == "nhwc"
               and x["shape"] == "N64_C96_56x56" and x["k"] == 7 and x["stride"] == 1)
    assert abs(row["pct_copy"] - 100 / 1.22) < 1e-6
    assert "TARGET" not in r.stdout and "status" in r.stdout
    # The variants table: default, tiled and stream times and their ratio, per shape.
    assert "## Fused kernel variants: tiled vs row-streaming" in md
    variants = md.split("## Fused kernel variants")[1].split("\n## ")[0]
    line = next(x for x in variants.splitlines() if x.startswith("| f16 | nhwc | N64_C96_56x56 | 31 | 1 |"))
    ratio = float(line.split("|")[9])
    assert abs(ratio - (1.15 + 0.5 * 31) / (1.25 + 0.01 * 31)) < 0.01, line
    # The timing cross-check: bench_torch's ours_* rows against xsep_bench's rows of the same
    # kernel and tensor (f16 NHWC and f32 NCHW, K = 5 and 7, fused and KxK: 8 rows).
    cross = {(c["op"], c["dtype"], c["k"]): c for c in doc["timing_crosscheck"]}
    assert len(doc["timing_crosscheck"]) == 8 and len(cross) == 8
    copy_f16 = 2 * 64 * 96 * 2 * 56 * 56 / 3.0e12 * 1e6
    c = cross[("xsepconv", "f16", 7)]
    assert c["layout"] == "nhwc" and c["bench_torch_us"] == 30.0
    assert abs(c["ratio"] - 30.0 / (copy_f16 * (1.15 + 0.07))) < 1e-9
    c = cross[("dwkxk", "f16", 5)]
    assert abs(c["ratio"] - 40.0 / (copy_f16 * (1.1 + 0.03 * 25))) < 1e-9
    assert "## Timing methods cross-check" in md and "timing cross-check, bench_torch / xsep_bench" in r.stdout
    # tools/bench.sh --quick names its report apart, so that the full run does not overwrite it.
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--bench", str(bench), "--out-dir", str(out),
                        "--date", "2000-01-01", "--suffix", "quick", "--no-plot", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "2000-01-01-synthetic-test-card-quick.md").exists()
    assert (out / "2000-01-01-synthetic-test-card.md").read_text() == md


def test_report_refuses_cpu_smoke_run(tmp_path):
    """A bench_torch.py --device cpu JSON (times of the emulated device and torch on the CPU)
    must never become a results file."""
    torch = synthetic_torch()
    torch["context"] = {"torch": "0.0-synthetic", "torch_device": "cpu", "smoke_run": True,
                        "device": "CPU smoke run (x86_64, 2 cores), not a GPU"}
    (tmp_path / "torch.json").write_text(json.dumps(torch))
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(synthetic_bench()))
    out = tmp_path / "results"
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--bench", str(bench), "--torch",
                        str(tmp_path / "torch.json"), "--out-dir", str(out), "--date", "2000-01-01"],
                       capture_output=True, text=True)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "CPU smoke run" in r.stderr
    assert not out.exists() or not list(out.iterdir())


def report_on(tmp_path, bench_doc, torch_doc):
    """report.py on one bench and one bench_torch document: (its JSON, its Markdown)."""
    (tmp_path / "b.json").write_text(json.dumps(bench_doc))
    (tmp_path / "t.json").write_text(json.dumps(torch_doc))
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--bench", str(tmp_path / "b.json"),
                        "--torch", str(tmp_path / "t.json"), "--out-dir", str(out), "--date", "2000-01-01",
                        "--no-plot", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    stem = out / "2000-01-01-synthetic-test-card"
    return json.loads(stem.with_suffix(".json").read_text()), stem.with_suffix(".md").read_text()


def test_failed_and_partial_rows_are_never_met(tmp_path):
    """A quick run (one DRAM shape, K 3-9) is "met on a subset", never "met"; a failed row a
    target needs makes it "failed rows" whatever the others show; a budget skip is a
    missing row, not a failure; an end-to-end row whose logits disagree does not count."""
    doc = synthetic_bench()
    keep = []
    for e in doc["benchmarks"]:
        name = e["name"]
        if "N32_C256" in name or "/k13/" in name or "/k31/" in name:
            continue
        keep.append(e)
    for e in keep:
        if e["name"].startswith("xsepconv/f16/nhwc/N64_C96_56x56/k9/s1/"):
            e.update(error_occurred=True, error_message="1234 outputs not finite")
        if e["name"].startswith("xsepconv/f32/nchw/N64_C96_56x56/k9/s1/"):
            e.update(error_occurred=True, error_message="skipped: --xsep_budget_s exhausted")
    doc["benchmarks"] = keep
    torch = synthetic_torch()
    for r in torch["kernels"]:
        if r["variant"] == "ours_fused" and r["dtype"] == "f16" and r["k"] == 7:
            r["check"] = {"ok": False, "rel_l2": 0.5, "max_rel": 0.9}
    for r in torch["e2e"]:
        if r["engine"] == "torch_graph":
            r["check_max_rel"] = 0.3
    res, md = report_on(tmp_path, doc, torch)
    t = {x["target"]: x for x in res["targets"]}
    f16 = t["XSepConv f16 NHWC stride 1 >= 80% of copy"]
    assert f16["status"] == "failed rows" and f16["failed"] == ["N64_C96_56x56 K=9"], f16
    k9 = t["XSepConv vs cuDNN KxK, K=9, f16 NHWC >= 3.0x"]
    assert k9["status"] == "failed rows", k9
    # The f32 NCHW K = 9 row was skipped for budget: missing, not failed.
    k9f32 = t["XSepConv vs cuDNN KxK, K=9, f32 NCHW >= 3.0x"]
    assert k9f32["status"] == "not measured" and not k9f32["failed"], k9f32
    k5 = t["XSepConv vs cuDNN KxK, K=5, f16 NHWC >= 1.5x"]
    assert k5["status"] == "met on a subset" and k5["missing"] == ["N32_C256_56x56"], k5
    s2 = t["XSepConv stride 2 (f16 and f32 NHWC) >= 65% of copy"]
    assert s2["status"] == "met on a subset" and "f32 N32_C256_56x56 K=31" in s2["missing"], s2
    assert t["XSepConv vs PyTorch unfused XSepConv at batch 64 >= 4x"]["status"] == "failed rows"
    assert t["mbv3s-xsep batch-1 latency: xsep-run <= PyTorch CUDA graphs"]["status"] == "failed rows"
    kernel_targets = [x for x in res["targets"] if "PyTorch" not in x["target"] and "mbv3s" not in x["target"]]
    assert all(x["status"] != "met" for x in kernel_targets), [(x["target"], x["status"]) for x in kernel_targets]
    assert "not measured here" in md and "failed rows (see Errors)" in md


def test_torch_and_end_to_end_rows_that_did_not_run(tmp_path):
    """bench_torch rows: an xsep-run pass that failed (no time, an error) makes its
    end-to-end target "failed rows"; kernel rows skipped for budget are missing, so
    the target is at most "met on a subset"; a cuDNN-less build is not a failure."""
    torch = synthetic_torch()
    for r in torch["e2e"]:
        if r["engine"] == "xsep_run" and r["batch"] == 1:
            r.update(ms=None, ms_p90=None, images_per_s=None, error="exit 1: XSEP_STATUS_DEVICE_ERROR")
    extra = []
    for r in torch["kernels"]:
        if r["variant"] in ("ours_kxk", "torch_native_kxk") and r["k"] == 7 and r["dtype"] == "f32":
            extra.append(dict(r, shape="N32_C256_56x56", n=32, c=256, us=None, error="skipped: budget"))
    torch["kernels"] += extra
    doc = synthetic_bench()
    for e in doc["benchmarks"]:
        if e["name"].startswith("cudnn/f16/nhwc/N32_C256_56x56/k5/s1/"):
            e.update(error_occurred=True, error_message="built without cuDNN (XSEP_WITH_CUDNN=OFF or cuDNN not found)")
    t = {x["target"]: x for x in report_on(tmp_path, doc, torch)[0]["targets"]}
    lat = t["mbv3s-xsep batch-1 latency: xsep-run <= PyTorch CUDA graphs"]
    assert lat["status"] == "failed rows" and lat["failed"] == ["xsep_run f32 batch 1"], lat
    nat = t["our KxK vs PyTorch native depthwise, K=7, f32 NCHW >= 2x"]
    assert nat["status"] == "met on a subset" and nat["missing"] == ["N32_C256_56x56 s1"], nat
    k5 = t["XSepConv vs cuDNN KxK, K=5, f16 NHWC >= 1.5x"]
    assert k5["status"] == "met on a subset" and not k5["failed"], k5


def test_torch_targets_use_the_steady_state_when_every_row_has_it(tmp_path):
    """bench_torch.py times each row twice: do_bench (`us`) and the steady state
    (`us_steady`, xsep_bench's method). The PyTorch targets use `us_steady` when every
    timed row has it, else `us` for all rows, never a mix; the cross-check shows both."""
    unfused = "XSepConv vs PyTorch unfused XSepConv at batch 64 >= 4x"
    torch = synthetic_torch()
    for r in torch["kernels"]:  # do_bench: 150 / 30 = 5x (met); steady: 150 / 40 = 3.75x (missed)
        r["us_steady"] = {"ours_fused": 40.0}.get(r["variant"], r["us"])
    (tmp_path / "steady").mkdir()
    res, md = report_on(tmp_path / "steady", synthetic_bench(), torch)
    t = {x["target"]: x for x in res["targets"]}
    assert t[unfused]["status"] != "met" and abs(t[unfused]["measured"] - 150 / 40) < 1e-9, t[unfused]
    assert "steady state" in t[unfused]["how"]
    cross = res["timing_crosscheck"]
    assert cross and all(c["ratio_steady"] == c["bench_torch_steady_us"] / c["xsep_bench_us"] for c in cross)
    assert "| steady us |" in md
    # One timed row without a steady time: every ratio falls back to do_bench.
    next(r for r in torch["kernels"] if r["variant"] == "torch_conv2d")["us_steady"] = None
    (tmp_path / "mixed").mkdir()
    res, _ = report_on(tmp_path / "mixed", synthetic_bench(), torch)
    t = {x["target"]: x for x in res["targets"]}
    assert abs(t[unfused]["measured"] - 150 / 30) < 1e-9 and "do_bench" in t[unfused]["how"], t[unfused]
