"""python_ref/bench_torch.py --device cpu: the smoke run of the PyTorch comparison (issue 5).

The script is written for a GPU whose time is scarce; this runs all of it on the CPU first:
the ctypes binding against an emulated libxsep.so (XSEP_LIB) on CPU torch tensors, the
float64 references, PyTorch's unfused XSepConv, F.conv2d, the end-to-end modules against
torchvision and onnxruntime and, when XSEP_RUN names an emulated build's xsep-run, its rows.
Times mean nothing here. Skipped without torch (CI) or without XSEP_LIB:

  XSEP_LIB=build-emu/libxsep.so XSEP_RUN=build-emu/xsep-run python -m pytest -q python_ref/tests/test_bench_torch.py

The emulated device makes it slow, the more so with XSEP_RUN (eight batch-1 forward
passes of MobileNetV3-Small through it).
"""
import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (bench_torch.py needs it)")

XSEP_LIB = os.environ.get("XSEP_LIB")
XSEP_RUN = os.environ.get("XSEP_RUN")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "python_ref", "bench_torch.py")

pytestmark = pytest.mark.skipif(not XSEP_LIB, reason="XSEP_LIB (path of an emulated libxsep.so) is not set")

# Two tiny shapes (C a multiple of 8 and not; odd sizes), a K the kernels specialise and a
# run-time K, both strides.
SHAPES = [(2, 8, 12, 12), (1, 20, 9, 11)]
KS = [3, 13]
STRIDES = [1, 2]


def cpu_half_ok():
    """Whether this torch runs the float16 ops of the script on the CPU."""
    try:
        m = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, padding=1, groups=2, bias=False),
                                torch.nn.BatchNorm2d(2), torch.nn.Hardswish()).eval().half()
        with torch.no_grad():
            m(torch.ones(1, 2, 4, 4, dtype=torch.float16).contiguous(memory_format=torch.channels_last))
        return True
    except RuntimeError:
        return False


HALF = cpu_half_ok()
CONFIGS = [("f32", "nchw"), ("f32", "nhwc")] + ([("f16", "nhwc")] if HALF else [])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_torch")
    out = d / "smoke.json"
    cmd = [sys.executable, SCRIPT, "--device", "cpu", "--lib", XSEP_LIB, "--out", str(out),
           "--shapes", ",".join("x".join(map(str, s)) for s in SHAPES), "--ks", ",".join(map(str, KS)),
           "--strides", ",".join(map(str, STRIDES)), "--configs", ",".join(f"{a}:{b}" for a, b in CONFIGS),
           "--compile-ks", "", "--warmup-ms", "0", "--rep-ms", "1", "--batches", "1", "--e2e-iters", "1",
           "--models-dir", str(d / "models")]
    if XSEP_RUN:
        cmd += ["--xsep-run", XSEP_RUN]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=3600)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    doc = json.loads(out.read_text()) if out.exists() else None
    return proc, doc


def test_exit_status_and_context(smoke):
    proc, doc = smoke
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert doc is not None
    assert "kernels_error" not in doc and "e2e_error" not in doc
    ctx = doc["context"]
    assert ctx["torch_device"] == "cpu" and ctx["smoke_run"] is True and "CPU" in ctx["device"]
    assert "reference check: torch float64 XSepConv == python_ref.xsep_ref" in proc.stdout


def test_every_xsep_row_passes_its_check(smoke):
    _, doc = smoke
    ours = [r for r in doc["kernels"] if r["variant"].startswith("ours")]
    want = {(f"N{n}_C{c}_{h}x{w}", k, s, dt, lay, v) for n, c, h, w in SHAPES for k in KS for s in STRIDES
            for dt, lay in CONFIGS for v in ("ours_fused", "ours_kxk")}
    assert {(r["shape"], r["k"], r["stride"], r["dtype"], r["layout"], r["variant"]) for r in ours} == want
    bad = [r for r in ours if r.get("error") or not (r.get("check") or {}).get("ok")]
    assert not bad, bad
    assert all(r["us"] is not None and r["us_steady"] is not None for r in ours)


def test_torch_rows_ran(smoke):
    _, doc = smoke
    for variant in ("torch_conv2d", "torch_native_kxk", "torch_xsep_unfused"):
        rows = [r for r in doc["kernels"] if r["variant"] == variant]
        assert len(rows) == len(SHAPES) * len(KS) * len(STRIDES) * len(CONFIGS), variant
        assert all(not r.get("error") and r["us"] is not None and r["us_steady"] is not None for r in rows), rows
    # PyTorch's own unfused XSepConv agrees with the float64 reference within SPEC 5.
    assert all(r["check"]["ok"] for r in doc["kernels"] if r["variant"] == "torch_xsep_unfused")


def test_end_to_end(smoke):
    _, doc = smoke
    checks = {(c["check"], c["model"]): c["max_rel"] for c in doc["e2e_checks"]}
    assert checks[("torch_vs_onnxruntime", "mbv3s")] < 1e-5, checks
    assert checks[("torch_vs_onnxruntime", "mbv3s-xsep")] < 1e-5, checks
    try:
        import torchvision  # noqa: F401
        assert checks[("torchvision_vs_mirror", "mbv3s")] < 1e-5, checks
    except ImportError:
        pass
    rows = {(r["model"], r["dtype"], r["engine"]): r for r in doc["e2e"]}
    for model in ("mbv3s", "mbv3s-xsep"):
        for dtype, bound in (("f32", 1e-5), ("f16", 1e-2)):
            eager = rows[(model, dtype, "torch_eager")]
            if dtype == "f32" or HALF:
                assert not eager["error"] and eager["check_max_rel"] < bound, eager
            assert rows[(model, dtype, "torch_graph")]["error"].startswith("skipped:")
            if XSEP_RUN:
                # test_runner.py's bounds: 1e-4 of the largest logit, 1e-2 in float16.
                engines = ["xsep_run"] + (["xsep_run[gemm=cuda_core]", "xsep_run[gemm=tensor_core]"]
                                          if dtype == "f16" else [])
                for engine in engines:
                    xr = rows[(model, dtype, engine)]
                    assert not xr["error"] and xr["check_max_rel"] < (1e-4 if dtype == "f32" else 1e-2), xr
