#!/usr/bin/env python3
"""xsep against PyTorch on the GPU (issue 5, parts 2 and 3); nothing here is measured yet.

Kernels: a ctypes binding of the CUDA build's libxsep.so calls xsep_xsepconv and
xsep_dwconvkxk on torch CUDA tensors (data_ptr(), torch's current stream). On the same
tensors it times F.conv2d depthwise KxK (PyTorch's own choice, cudnn.benchmark on), the
same with cuDNN disabled (PyTorch's native depthwise kernel), PyTorch's unfused XSepConv
(directional pad + 2x2, 1xK, Kx1 depthwise convs, each + BatchNorm + hard-swish, eager)
and torch.compile of that module. Every xsep output is checked first against a float64
reference computed with torch (SPEC 5 tolerances); a failing kernel is not timed.
Timing, two ways for every kernel row: `us`, triton.testing.do_bench (median; it flushes
L2 between calls) when triton imports, else CUDA events around each call after an
L2-sized flush, median; and `us_steady`, back-to-back calls over inputs rotating among
copies of x that together exceed L2, CUDA events around batches, median per call (the
steady state xsep_bench measures; bench/report.py's targets use it when every row has it).

End to end: mbv3s and mbv3s-xsep (python_ref/build_models.py, same seeded weights) as
torch modules (torchvision's mobilenet_v3_small with the weights copied for mbv3s, a
module mirroring the ONNX graph for mbv3s-xsep), eager and CUDA-graph replay, float32
NCHW and float16 channels_last, batch 1 and 256, beside `xsep-run --iters` on the ONNX
files (per-iteration wall time of a synchronised forward pass, median, as xsep-run
measures itself); xsep-run's logits are compared with torch's.

  python3 python_ref/bench_torch.py --lib build-bench/libxsep.so [--xsep-run build-bench/xsep-run]
                                    [--out torch.json] [--quick] [--budget-s 120]

--device cpu is a smoke run of the whole script without a GPU: --lib and --xsep-run must then
be an emulated build's (-DXSEP_DEVICE=emu; its "device pointers" are host pointers), CUDA
graph rows are skipped, times are CPU perf_counter medians of no meaning for the GPU, and
the JSON's context says so (bench/report.py refuses it). For example:

  python3 python_ref/bench_torch.py --device cpu --lib build-emu/libxsep.so
      --xsep-run build-emu/xsep-run --shapes 2x8x12x12 --ks 3,13 --strides 1,2
      --compile-ks '' --batches 1 --e2e-iters 1 --out /tmp/smoke.json      (one command line)

Only argparse runs before torch is imported, so --help works anywhere.

Exit status: 0; 4 when an xsep row gave a wrong output or an error status (tools/bench.sh
counts it as a failed GPU check); 3 when a section of the harness broke; 2 without a CUDA
device or the library; 1 an uncaught exception.
"""
import argparse
import copy
import ctypes
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

# SPEC 5 tolerances: (relative L2, max error relative to max|ref|).
TOL = {"f32": (1e-5, 1e-4), "f16": (2e-3, 4e-3)}
DTYPE_ENUM = {"f32": 0, "f16": 1}
LAYOUT_ENUM = {"nchw": 0, "nhwc": 1}
PAD_ENUM = {"TOP_LEFT": 0, "TOP_RIGHT": 1, "BOTTOM_LEFT": 2, "BOTTOM_RIGHT": 3, "SYMMETRIC": 4}
ACT_HARDSWISH = 3
# The library version the structures below were written for (xsep.h's
# XSEP_VERSION_MAJOR, _MINOR): another one may lay them out differently.
BINDING_VERSION = (0, 1)
BN_EPS = 1e-3
# "cuda" (the measurement) or "cpu" (--device cpu: the smoke run); set by main().
DEVICE = "cuda"
LATENCY_RE = re.compile(r"latency over (\d+) runs: median ([0-9.]+) ms, p90 ([0-9.]+) ms, ([0-9.]+) images/s")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cuda (default): the measurement; cpu: a smoke run of everything against an "
                         "emulated libxsep.so and xsep-run, times meaningless")
    ap.add_argument("--lib", help="the CUDA build's libxsep.so (default: build-bench/libxsep.so; with "
                                  "--device cpu an emulated build's, default build-emu/libxsep.so)")
    ap.add_argument("--xsep-run", help="xsep-run binary for the end-to-end part (absent: xsep-run rows skipped)")
    ap.add_argument("--out", default="bench_torch.json", help="JSON for bench/report.py")
    ap.add_argument("--shapes", default="64x96x56x56",
                    help="kernel shapes NxCxHxW, comma-separated (default 64x96x56x56; "
                         "also e.g. 32x256x56x56)")
    ap.add_argument("--ks", default="3,5,7,9,13,31", help="kernel sizes K (default 3,5,7,9,13,31)")
    ap.add_argument("--strides", default="1", help="strides (default 1)")
    ap.add_argument("--configs", default="f16:nhwc,f32:nchw",
                    help="dtype:layout pairs (default f16:nhwc,f32:nchw, the targets' configurations)")
    ap.add_argument("--compile-ks", default="7",
                    help="K values (first shape, each config, stride 1) also timed through torch.compile; "
                         "'' for none (default 7: a compile costs tens of seconds)")
    ap.add_argument("--warmup-ms", type=float, default=10.0, help="do_bench warm-up (ms)")
    ap.add_argument("--rep-ms", type=float, default=40.0, help="do_bench measuring time (ms)")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernel comparison")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end part")
    ap.add_argument("--batches", default="1,256", help="end-to-end batch sizes (default 1,256)")
    ap.add_argument("--e2e-iters", type=int, default=50, help="timed forward passes per end-to-end row")
    ap.add_argument("--models-dir", help="where the ONNX models are written (default: a temporary dir)")
    ap.add_argument("--seed", type=int, default=None, help="build_models seed (default: its DEFAULT_SEED)")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="stop starting new measurements after this many seconds (0: no limit)")
    ap.add_argument("--kernels-budget-s", type=float, default=0.0,
                    help="the kernel part stops starting new rows after this many seconds, leaving the "
                         "rest of --budget-s to the end-to-end part (0: no separate limit)")
    ap.add_argument("--allow-tf32", action="store_true",
                    help="let PyTorch run float32 convolutions and matmuls as TF32 (its default; off here)")
    ap.add_argument("--quick", action="store_true",
                    help="K in {5,7,9}, no torch.compile, batch 1 and 256 with fewer iterations")
    args = ap.parse_args(argv)
    if args.lib is None:
        args.lib = os.path.join(REPO, "build-bench" if args.device == "cuda" else "build-emu", "libxsep.so")
    if args.quick:
        args.ks, args.compile_ks, args.e2e_iters, args.rep_ms = "5,7,9", "", 20, 25.0
    return args


# ---------------------------------------------------------------- the ctypes binding

class TensorDesc(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int64), ("c", ctypes.c_int64), ("h", ctypes.c_int64), ("w", ctypes.c_int64),
                ("dtype", ctypes.c_int), ("layout", ctypes.c_int)]


class Epilogue(ctypes.Structure):
    _fields_ = [("scale", ctypes.c_void_p), ("bias", ctypes.c_void_p), ("act", ctypes.c_int)]


class XSepParams(ctypes.Structure):
    _fields_ = [("k", ctypes.c_int32), ("stride", ctypes.c_int32), ("pad", ctypes.c_int),
                ("w2x2", ctypes.c_void_p), ("w1xk", ctypes.c_void_p), ("wkx1", ctypes.c_void_p),
                ("ep2x2", Epilogue), ("ep1xk", Epilogue), ("epkx1", Epilogue)]


class Xsep:
    """libxsep.so through ctypes (include/xsep/xsep.h). Pointers are device addresses (ints)."""

    def __init__(self, path):
        # (On the CPU this is an emulated build; it binds its own cuda* calls to its own
        # definitions, so the real libcudart that a CUDA build of torch loads does not
        # interpose them: CMakeLists.txt, -Bsymbolic-functions.)
        self.lib = ctypes.CDLL(path)
        L = self.lib
        L.xsep_version.restype = ctypes.c_int
        L.xsep_status_string.argtypes = [ctypes.c_int]
        L.xsep_status_string.restype = ctypes.c_char_p
        L.xsep_last_error.restype = ctypes.c_char_p
        P = ctypes.POINTER
        L.xsep_xsepconv.argtypes = [P(TensorDesc), ctypes.c_void_p, P(XSepParams), ctypes.c_void_p, ctypes.c_void_p]
        L.xsep_xsepconv.restype = ctypes.c_int
        L.xsep_dwconvkxk.argtypes = [P(TensorDesc), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32,
                                     P(Epilogue), ctypes.c_void_p, ctypes.c_void_p]
        L.xsep_dwconvkxk.restype = ctypes.c_int
        self.version = L.xsep_version()
        major, minor = self.version // 10000, self.version // 100 % 100
        if (major, minor) != BINDING_VERSION:
            raise RuntimeError(f"{path} is xsep {major}.{minor}; this binding (python_ref/bench_torch.py) "
                               f"mirrors the structures of {BINDING_VERSION[0]}.{BINDING_VERSION[1]}")

    def error(self, status):
        return f"{self.lib.xsep_status_string(status).decode()}: {self.lib.xsep_last_error().decode()}"


def desc_for(x, dtype, layout):
    n, c, h, w = x.shape
    return TensorDesc(n, c, h, w, DTYPE_ENUM[dtype], LAYOUT_ENUM[layout])


# ---------------------------------------------------------------- torch helpers

def torch_mods():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    return torch, nn, F


def synchronize():
    """Waits for the device (nothing to wait for on the CPU: torch CPU ops and the emulated
    library are synchronous)."""
    if DEVICE == "cuda":
        import torch
        torch.cuda.synchronize()


def stream_handle():
    """torch's current CUDA stream as the cudaStream_t for libxsep; 0 on the CPU."""
    if DEVICE == "cuda":
        import torch
        return torch.cuda.current_stream().cuda_stream
    return 0


def empty_cache():
    if DEVICE == "cuda":
        import torch
        torch.cuda.empty_cache()


def hardswish(v):
    import torch
    return v * torch.clamp(v + 3.0, 0.0, 6.0) / 6.0


def bn_fold(gamma, beta, mean, var, eps=BN_EPS):
    scale = gamma / (var + eps).sqrt()
    return scale, beta - mean * scale


def pad_lrtb(direction):
    """xsep direction -> F.pad's (left, right, top, bottom)."""
    from python_ref import xsep_ref
    top, left, bottom, right = xsep_ref.PADS_2X2[direction]
    return (left, right, top, bottom)


def ref_xsepconv(x64, p, k, s, direction):
    """Float64 XSepConv (SPEC 2.5) with torch ops: pad + 2x2, 1xK, Kx1 depthwise, each with
    the folded BatchNorm and hard-swish. p holds float64 tensors."""
    _, _, F = torch_mods()
    c = x64.shape[1]
    sc = lambda v, i: v * p[f"scale{i}"].view(1, -1, 1, 1) + p[f"bias{i}"].view(1, -1, 1, 1)  # noqa: E731
    t = hardswish(sc(F.conv2d(F.pad(x64, pad_lrtb(direction)), p["w2x2"].view(c, 1, 2, 2), groups=c), 1))
    t = hardswish(sc(F.conv2d(t, p["w1xk"].view(c, 1, 1, k), padding=(0, k // 2), stride=(1, s), groups=c), 2))
    return hardswish(sc(F.conv2d(t, p["wkx1"].view(c, 1, k, 1), padding=(k // 2, 0), stride=(s, 1), groups=c), 3))


def ref_kxk(x64, p, k, s):
    _, _, F = torch_mods()
    c = x64.shape[1]
    y = F.conv2d(x64, p["wkxk"].view(c, 1, k, k), padding=k // 2, stride=s, groups=c)
    return hardswish(y * p["scale1"].view(1, -1, 1, 1) + p["bias1"].view(1, -1, 1, 1))


def compare(y, ref, dtype):
    """SPEC 5: relative L2 and max error relative to max|ref|; NaN/Inf fail."""
    import torch
    y64 = y.double()
    finite = bool(torch.isfinite(y64).all())
    diff = (y64 - ref)
    rel_l2 = float(diff.norm() / ref.norm().clamp_min(1e-300))
    max_rel = float(diff.abs().max() / ref.abs().max().clamp_min(1e-300))
    tl2, tmax = TOL[dtype]
    return {"ok": finite and rel_l2 <= tl2 and max_rel <= tmax, "finite": finite, "rel_l2": rel_l2,
            "max_rel": max_rel, "tol_rel_l2": tl2, "tol_max_rel": tmax}


class Timer:
    """Median milliseconds of fn(): triton's do_bench if it imports, else CUDA events; on the
    CPU (smoke run) time.perf_counter around each call."""

    def __init__(self, warmup_ms, rep_ms):
        import torch
        self.warmup_ms, self.rep_ms, self.torch = warmup_ms, rep_ms, torch
        if DEVICE == "cpu":  # triton may import on a CPU machine, but do_bench needs a GPU
            self.do_bench, self.method = None, "CPU smoke run: time.perf_counter per call (median), not GPU times"
            return
        try:
            from triton.testing import do_bench
            self.do_bench, self.method = do_bench, "triton.testing.do_bench (median, L2 flushed)"
        except Exception:  # noqa: BLE001 - no triton: events
            self.do_bench, self.method = None, "CUDA events per call after a 256 MB flush (median)"
            self.flush = torch.empty(256 << 20, dtype=torch.int8, device="cuda")

    def __call__(self, fn):
        torch = self.torch
        if DEVICE == "cpu":
            return self.cpu_ms(fn)
        if self.do_bench is not None:
            try:
                return float(self.do_bench(fn, warmup=self.warmup_ms, rep=self.rep_ms, return_mode="median"))
            except TypeError:  # older triton: no return_mode; quantiles give a list
                q = self.do_bench(fn, warmup=self.warmup_ms, rep=self.rep_ms, quantiles=[0.5])
                return float(q[0] if isinstance(q, (list, tuple)) else q)
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        est = max(start.elapsed_time(end), 1e-3)
        n = int(min(1000, max(5, self.rep_ms / est)))
        ms = []
        for _ in range(n):
            self.flush.zero_()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            ms.append(start.elapsed_time(end))
        return statistics.median(ms)

    def steady(self, fn, inputs, batches=7, batch_ms=2.0):
        """Median milliseconds per call of fn(x) called back to back over `inputs` in turn:
        the steady state xsep_bench measures. The inputs together exceed L2 (rotating_inputs),
        so no call finds its x there, and every call pays for its own writes as the next
        ones evict them; no flush writes anything. Timed in batches of B calls (a batch
        lasts >= batch_ms), with CUDA events on the GPU, perf_counter on the CPU."""
        torch = self.torch
        if DEVICE == "cpu":
            def span(run):
                t0 = time.perf_counter()
                run()
                return 1000 * (time.perf_counter() - t0)
        else:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def span(run):
                start.record()
                run()
                end.record()
                end.synchronize()
                return start.elapsed_time(end)
        n = len(inputs)

        def calls(b):
            def run():
                for i in range(b):
                    fn(inputs[i % n])
            return run
        calls(n)()  # warm-up (autotuning, lazy init) over every input
        synchronize()
        est = max(span(calls(n)) / n, 1e-4)
        b = max(n, int(math.ceil(batch_ms / est / n)) * n)
        return statistics.median(span(calls(b)) / b for _ in range(batches))

    def cpu_ms(self, fn):
        fn()
        t0 = time.perf_counter()
        fn()
        est = max(1000 * (time.perf_counter() - t0), 1e-3)
        ms = []
        for _ in range(int(min(1000, max(3, self.rep_ms / est)))):
            t0 = time.perf_counter()
            fn()
            ms.append(1000 * (time.perf_counter() - t0))
        return statistics.median(ms)


# ---------------------------------------------------------------- kernels

def rotating_inputs(x):
    """x and copies of it, together at least 3x the L2 cache (at least two tensors), for
    Timer.steady: as xsep_bench's buffer sets, so that no call finds its input in L2."""
    torch = torch_mods()[0]
    l2 = 0
    if DEVICE != "cpu":
        l2 = int(getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "L2_cache_size", 0) or 0)
        l2 = l2 or (50 << 20)
    nbytes = x.numel() * x.element_size()
    count = min(64, max(2, -(-3 * l2 // nbytes)))  # capped: a tiny x would need thousands
    return [x] + [x.clone(memory_format=torch.preserve_format) for _ in range(count - 1)]


def make_xsep_module(c, k, s, direction, p, dtype, layout):
    """PyTorch's unfused XSepConv: pad, then three depthwise convs each + BN + Hardswish."""
    torch, nn, _ = torch_mods()

    def conv_bn(conv, i):
        bn = nn.BatchNorm2d(c, eps=BN_EPS)
        with torch.no_grad():
            bn.weight.copy_(p[f"gamma{i}"])
            bn.bias.copy_(p[f"beta{i}"])
            bn.running_mean.copy_(p[f"mean{i}"])
            bn.running_var.copy_(p[f"var{i}"])
        return [conv, bn, nn.Hardswish()]

    c2 = nn.Conv2d(c, c, 2, groups=c, bias=False)
    c1 = nn.Conv2d(c, c, (1, k), stride=(1, s), padding=(0, k // 2), groups=c, bias=False)
    ck = nn.Conv2d(c, c, (k, 1), stride=(s, 1), padding=(k // 2, 0), groups=c, bias=False)
    with torch.no_grad():
        c2.weight.copy_(p["w2x2"].view(c, 1, 2, 2))
        c1.weight.copy_(p["w1xk"].view(c, 1, 1, k))
        ck.weight.copy_(p["wkx1"].view(c, 1, k, 1))
    m = nn.Sequential(nn.ZeroPad2d(pad_lrtb(direction)), *conv_bn(c2, 1), *conv_bn(c1, 2), *conv_bn(ck, 3))
    m = m.to(device=DEVICE, dtype=torch.float16 if dtype == "f16" else torch.float32).eval()
    if layout == "nhwc":
        m = m.to(memory_format=torch.channels_last)
    return m


def bench_kernels(args, xs, timer, deadline, log):
    torch, _, F = torch_mods()
    torch.backends.cudnn.benchmark = True
    rows = []
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",") if s]
    ks = [int(k) for k in args.ks.split(",") if k]
    strides = [int(s) for s in args.strides.split(",") if s]
    configs = [tuple(c.split(":")) for c in args.configs.split(",") if c]
    compile_ks = {int(k) for k in args.compile_ks.split(",") if k}
    direction = "BOTTOM_RIGHT"
    stream = stream_handle
    g = torch.Generator(device=DEVICE)
    g.manual_seed(2026)

    # The float64 reference itself, once, against the independent numpy reference on a
    # small tensor (both directions of the 2x2 pad and stride 2 included).
    try:
        from python_ref import xsep_ref
        import numpy as np
        rng = np.random.default_rng(1)
        xn = rng.standard_normal((2, 5, 9, 11))
        for d, kk, ss in (("TOP_LEFT", 5, 1), ("BOTTOM_RIGHT", 3, 2), ("TOP_RIGHT", 7, 2)):
            pn = {f"{a}{i}": rng.uniform(0.5, 1.5, 5) if a == "scale" else rng.uniform(-0.2, 0.2, 5)
                  for a in ("scale", "bias") for i in (1, 2, 3)}
            pn.update(w2x2=rng.standard_normal((5, 2, 2)), w1xk=rng.standard_normal((5, kk)),
                      wkx1=rng.standard_normal((5, kk)))
            want = xsep_ref.xsepconv(xn, pn["w2x2"], pn["w1xk"], pn["wkx1"], kk, ss, d,
                                     (pn["scale1"], pn["bias1"], "HARDSWISH"), (pn["scale2"], pn["bias2"], "HARDSWISH"),
                                     (pn["scale3"], pn["bias3"], "HARDSWISH"))
            pt = {a: torch.tensor(v, dtype=torch.float64, device=DEVICE) for a, v in pn.items()}
            got = ref_xsepconv(torch.tensor(xn, device=DEVICE), pt, kk, ss, d).cpu().numpy()
            err = float(np.abs(got - want).max() / np.abs(want).max())
            if err > 1e-12:
                raise RuntimeError(f"torch float64 reference differs from python_ref.xsep_ref by {err:.2e} ({d}, K={kk}, s={ss})")
        log("reference check: torch float64 XSepConv == python_ref.xsep_ref")
    except ImportError as e:
        log(f"reference check skipped ({e})")

    for (n, c, h, w) in shapes:
        for dtype, layout in configs:
            tdt = torch.float16 if dtype == "f16" else torch.float32
            fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
            x = torch.empty((n, c, h, w), device=DEVICE, dtype=torch.float32).uniform_(-1, 1, generator=g)
            x = x.to(dtype=tdt).contiguous(memory_format=fmt)
            x64 = x.double()  # the reference reads the same rounded inputs
            x_rot = rotating_inputs(x)
            for k in ks:
                for s in strides:
                    if deadline():
                        log("budget exhausted: remaining kernel rows skipped")
                        return rows
                    shp = f"N{n}_C{c}_{h}x{w}"
                    base = dict(shape=shp, n=n, c=c, h=h, w=w, k=k, stride=s, dtype=dtype, layout=layout)
                    p = {}
                    for i in (1, 2, 3):
                        p[f"gamma{i}"] = torch.empty(c, device=DEVICE).uniform_(0.5, 1.5, generator=g)
                        p[f"beta{i}"] = torch.empty(c, device=DEVICE).uniform_(-0.2, 0.2, generator=g)
                        p[f"mean{i}"] = torch.empty(c, device=DEVICE).uniform_(-0.2, 0.2, generator=g)
                        p[f"var{i}"] = torch.empty(c, device=DEVICE).uniform_(0.5, 1.5, generator=g)
                        p[f"scale{i}"], p[f"bias{i}"] = bn_fold(p[f"gamma{i}"], p[f"beta{i}"], p[f"mean{i}"],
                                                                p[f"var{i}"])
                    p["w2x2"] = torch.empty(c, 4, device=DEVICE).uniform_(-0.5, 0.5, generator=g)
                    p["w1xk"] = torch.empty(c, k, device=DEVICE).uniform_(-1 / k, 1 / k, generator=g)
                    p["wkx1"] = torch.empty(c, k, device=DEVICE).uniform_(-1 / k, 1 / k, generator=g)
                    p["wkxk"] = torch.empty(c, k * k, device=DEVICE).uniform_(-1 / k, 1 / k, generator=g)
                    p = {a: v.contiguous() for a, v in p.items()}
                    p64 = {a: v.double() for a, v in p.items()}
                    ho, wo = (h - 1) // s + 1, (w - 1) // s + 1
                    ref_x = ref_xsepconv(x64, p64, k, s, direction)
                    ref_k = ref_kxk(x64, p64, k, s)

                    # ---- ours, through ctypes
                    d = desc_for(x, dtype, layout)
                    eps = [Epilogue(p[f"scale{i}"].data_ptr(), p[f"bias{i}"].data_ptr(), ACT_HARDSWISH)
                           for i in (1, 2, 3)]
                    prm = XSepParams(k, s, PAD_ENUM[direction], p["w2x2"].data_ptr(), p["w1xk"].data_ptr(),
                                     p["wkx1"].data_ptr(), eps[0], eps[1], eps[2])
                    y = torch.full((n, c, ho, wo), float("nan"), device=DEVICE, dtype=tdt).contiguous(memory_format=fmt)
                    # Each operation as a function of its input (Timer.steady rotates it).
                    fused_of = lambda xx: xs.lib.xsep_xsepconv(ctypes.byref(d), xx.data_ptr(),  # noqa: E731
                                                               ctypes.byref(prm), y.data_ptr(), stream())
                    kxk_of = lambda xx: xs.lib.xsep_dwconvkxk(ctypes.byref(d), xx.data_ptr(),  # noqa: E731
                                                              p["wkxk"].data_ptr(), k, s, ctypes.byref(eps[0]),
                                                              y.data_ptr(), stream())
                    for variant, fn_of, ref in (("ours_fused", fused_of, ref_x), ("ours_kxk", kxk_of, ref_k)):
                        fn = lambda f=fn_of: f(x)  # noqa: E731
                        row = dict(base, variant=variant, us=None, us_steady=None, check=None, error=None)
                        y.fill_(float("nan"))
                        st = fn()
                        synchronize()
                        if st != 0:
                            row["error"] = xs.error(st)
                        else:
                            row["check"] = compare(y, ref, dtype)
                            if not row["check"]["ok"]:
                                row["error"] = "output check failed: not timed"
                            else:
                                row["us"] = 1000 * timer(fn)
                                row["us_steady"] = 1000 * timer.steady(fn_of, x_rot)
                                st = fn()
                                if st != 0:
                                    row["error"] = "a call failed after timing: " + xs.error(st)
                                    row["us"] = row["us_steady"] = None
                        rows.append(row)
                        log(row_text(row))

                    # ---- PyTorch
                    wk = p["wkxk"].view(c, 1, k, k).to(tdt)
                    conv_of = lambda xx: F.conv2d(xx, wk, padding=k // 2, stride=s, groups=c)  # noqa: E731
                    mod = make_xsep_module(c, k, s, direction, p, dtype, layout)
                    torch_rows = [("torch_conv2d", conv_of, None, True), ("torch_native_kxk", conv_of, None, False),
                                  ("torch_xsep_unfused", mod, ref_x, True)]
                    if k in compile_ks and s == 1 and (n, c, h, w) == shapes[0]:
                        torch_rows.append(("torch_xsep_compiled", None, ref_x, True))
                    for variant, fn_of, ref, cudnn_on in torch_rows:
                        row = dict(base, variant=variant, us=None, us_steady=None, check=None, error=None)
                        if deadline():
                            row["error"] = "skipped: budget"
                            rows.append(row)
                            continue
                        prev = torch.backends.cudnn.enabled
                        torch.backends.cudnn.enabled = cudnn_on
                        try:
                            with torch.no_grad():
                                if variant == "torch_xsep_compiled":
                                    t0 = time.time()
                                    cm = torch.compile(mod)
                                    cm(x)
                                    synchronize()
                                    row["compile_s"] = time.time() - t0
                                    fn_of = cm
                                fn = lambda f=fn_of: f(x)  # noqa: E731
                                out = fn()
                                synchronize()
                                if ref is not None:
                                    row["check"] = compare(out, ref, dtype)  # information: torch's own rounding
                                    row["check"]["info_only"] = True
                                row["us"] = 1000 * timer(fn)
                                row["us_steady"] = 1000 * timer.steady(fn_of, x_rot)
                        except Exception as e:  # noqa: BLE001 - record and go on (compile can fail)
                            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                        finally:
                            torch.backends.cudnn.enabled = prev
                        rows.append(row)
                        log(row_text(row))
                    mod = y = ref_x = ref_k = None  # free before the next K
            x = x64 = x_rot = None
            empty_cache()
    return rows


def row_text(r):
    chk = r.get("check")
    c = "" if not chk else (" check " + ("ok" if chk["ok"] else "FAIL") + f" relL2 {chk['rel_l2']:.1e}" +
                            f" max {chk['max_rel']:.1e}" +
                            (" (info)" if chk.get("info_only") else ""))
    t = f"{r['us']:9.1f} us" if r.get("us") else "        – us"
    t += f" (steady {r['us_steady']:.1f})" if r.get("us_steady") else ""
    e = f"  [{r['error']}]" if r.get("error") else ""
    return f"  {r['dtype']} {r['layout']} {r['shape']} K={r['k']:<2} s{r['stride']} {r['variant']:<20} {t}{c}{e}"


# ---------------------------------------------------------------- end to end

def build_torch_model(weights):
    """A torch module mirroring python_ref/build_models.py's ONNX graph (SPEC 4), for every
    variant: K x K depthwise or XSepConv (directional or SYMMETRIC 2x2 pad) per block."""
    torch, nn, F = torch_mods()
    from python_ref import xsep_ref

    def t(a):
        return torch.tensor(a, dtype=torch.float32)

    def act_mod(act):
        return {"RELU": nn.ReLU, "HARDSWISH": nn.Hardswish, None: nn.Identity}[act]()

    def conv_bn(entry, conv, act):
        bn = nn.BatchNorm2d(conv.out_channels, eps=weights["bn_eps"])
        with torch.no_grad():
            conv.weight.copy_(t(entry["weight"]))
            for name, attr in (("gamma", "weight"), ("beta", "bias"), ("mean", "running_mean"), ("var", "running_var")):
                getattr(bn, attr).copy_(t(entry["bn"][name]))
        return nn.Sequential(conv, bn, act_mod(act))

    def bn_act(entry, c, act):
        bn = nn.BatchNorm2d(c, eps=weights["bn_eps"])
        with torch.no_grad():
            for name, attr in (("gamma", "weight"), ("beta", "bias"), ("mean", "running_mean"), ("var", "running_var")):
                getattr(bn, attr).copy_(t(entry["bn"][name]))
        return nn.Sequential(bn, act_mod(act))

    class Dw2x2(nn.Module):
        """2x2 depthwise with a directional zero pad; SYMMETRIC splits the channels into
        numpy.array_split groups, one direction each (SPEC 2.1), then one BN over all C."""

        def __init__(self, c, entry, direction, act):
            super().__init__()
            if direction == "SYMMETRIC":
                groups = [(list(idx), d) for idx, d in zip(xsep_ref.symmetric_groups(c), xsep_ref.SYMMETRIC_ORDER)
                          if len(idx)]
            else:
                groups = [(list(range(c)), direction)]
            self.convs = nn.ModuleList()
            self.pads, self.sizes = [], []
            for idx, d in groups:
                conv = nn.Conv2d(len(idx), len(idx), 2, groups=len(idx), bias=False)
                with torch.no_grad():
                    conv.weight.copy_(t(entry["weight"][idx]))
                self.convs.append(conv)
                self.pads.append(pad_lrtb(d))
                self.sizes.append(len(idx))
            self.bn_act = bn_act(entry, c, act)

        def forward(self, x):
            if len(self.convs) == 1:
                return self.bn_act(self.convs[0](F.pad(x, self.pads[0])))
            parts = torch.split(x, self.sizes, dim=1)
            return self.bn_act(torch.cat([cv(F.pad(p, pd)) for cv, p, pd in zip(self.convs, parts, self.pads)], 1))

    class SE(nn.Module):
        def __init__(self, c, entry):
            super().__init__()
            sq = entry["fc1"]["weight"].shape[0]
            self.fc1, self.fc2 = nn.Conv2d(c, sq, 1), nn.Conv2d(sq, c, 1)
            with torch.no_grad():
                for fc in ("fc1", "fc2"):
                    getattr(self, fc).weight.copy_(t(entry[fc]["weight"]))
                    getattr(self, fc).bias.copy_(t(entry[fc]["bias"]))

        def forward(self, x):
            s = F.adaptive_avg_pool2d(x, 1)
            return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))

    class Block(nn.Module):
        def __init__(self, b):
            super().__init__()
            cfg = b["cfg"]
            c, k, s, act = cfg.exp, cfg.k, cfg.stride, cfg.act
            layers = []
            if b["expand"] is not None:
                layers.append(conv_bn(b["expand"], nn.Conv2d(cfg.cin, c, 1, bias=False), act))
            if b["dw"] is not None:
                layers.append(conv_bn(b["dw"], nn.Conv2d(c, c, k, stride=s, padding=k // 2, groups=c, bias=False), act))
            else:
                xs = b["xsep"]
                layers.append(Dw2x2(c, xs["dw2x2"], xs["direction"], act))
                layers.append(conv_bn(xs["dw1xk"], nn.Conv2d(c, c, (1, k), stride=(1, s), padding=(0, k // 2),
                                                             groups=c, bias=False), act))
                layers.append(conv_bn(xs["dwkx1"], nn.Conv2d(c, c, (k, 1), stride=(s, 1), padding=(k // 2, 0),
                                                             groups=c, bias=False), act))
            if b["se"] is not None:
                layers.append(SE(c, b["se"]))
            layers.append(conv_bn(b["project"], nn.Conv2d(c, cfg.cout, 1, bias=False), None))
            self.body = nn.Sequential(*layers)
            self.residual = s == 1 and cfg.cin == cfg.cout

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            stem = weights["stem"]
            self.stem = conv_bn(stem, nn.Conv2d(3, stem["weight"].shape[0], 3, stride=2, padding=1, bias=False),
                                "HARDSWISH")
            self.blocks = nn.Sequential(*[Block(b) for b in weights["blocks"]])
            last = weights["last"]
            self.last = conv_bn(last, nn.Conv2d(last["weight"].shape[1], last["weight"].shape[0], 1, bias=False),
                                "HARDSWISH")
            self.fc1 = nn.Linear(*reversed(weights["fc1"]["weight"].shape))
            self.fc2 = nn.Linear(*reversed(weights["fc2"]["weight"].shape))
            with torch.no_grad():
                for fc in ("fc1", "fc2"):
                    getattr(self, fc).weight.copy_(t(weights[fc]["weight"]))
                    getattr(self, fc).bias.copy_(t(weights[fc]["bias"]))

        def forward(self, x):
            x = self.last(self.blocks(self.stem(x)))
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.fc2(F.hardswish(self.fc1(x)))  # dropout: identity at inference

    return Net().eval()


def torchvision_mbv3s(weights):
    """torchvision's mobilenet_v3_small with build_models' mbv3s weights copied in."""
    import torch
    from torchvision.models import mobilenet_v3_small
    m = mobilenet_v3_small(num_classes=1000).eval()

    def t(a):
        return torch.tensor(a, dtype=torch.float32)

    def copy_cna(cna, entry):  # Conv2dNormActivation: [conv, bn, act?]
        with torch.no_grad():
            cna[0].weight.copy_(t(entry["weight"]))
            bn = cna[1]
            bn.weight.copy_(t(entry["bn"]["gamma"]))
            bn.bias.copy_(t(entry["bn"]["beta"]))
            bn.running_mean.copy_(t(entry["bn"]["mean"]))
            bn.running_var.copy_(t(entry["bn"]["var"]))
            bn.eps = weights["bn_eps"]

    copy_cna(m.features[0], weights["stem"])
    for i, b in enumerate(weights["blocks"], start=1):
        if b["dw"] is None:
            raise ValueError("torchvision's network has K x K depthwise layers only")
        mods, j = list(m.features[i].block), 0
        if b["expand"] is not None:
            copy_cna(mods[j], b["expand"])
            j += 1
        copy_cna(mods[j], b["dw"])
        j += 1
        if b["se"] is not None:
            with torch.no_grad():
                for fc in ("fc1", "fc2"):
                    getattr(mods[j], fc).weight.copy_(t(b["se"][fc]["weight"]))
                    getattr(mods[j], fc).bias.copy_(t(b["se"][fc]["bias"]))
            j += 1
        copy_cna(mods[j], b["project"])
    copy_cna(m.features[12], weights["last"])
    with torch.no_grad():
        for idx, fc in ((0, "fc1"), (3, "fc2")):
            m.classifier[idx].weight.copy_(t(weights[fc]["weight"]))
            m.classifier[idx].bias.copy_(t(weights[fc]["bias"]))
    return m


def wall_ms(fn, iters, warmup=5):
    """Per-iteration wall time of fn() + synchronize (what xsep-run reports), sorted."""
    for _ in range(warmup):
        fn()
    synchronize()
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        synchronize()
        ms.append(1000 * (time.perf_counter() - t0))
    return sorted(ms)


def e2e_row(model, batch, dtype, layout, engine, ms=None, error=None, **extra):
    r = dict(model=model, batch=batch, dtype=dtype, layout=layout, engine=engine, ms=None, ms_p90=None,
             images_per_s=None, error=error)
    if ms:
        r["ms"] = ms[len(ms) // 2]
        r["ms_p90"] = ms[min(len(ms) - 1, len(ms) * 9 // 10)]
        r["images_per_s"] = batch * 1000.0 / r["ms"]
        r["iters"] = len(ms)
    r.update(extra)
    return r


def e2e_text(r):
    t = f"{r['ms']:8.3f} ms  {r['images_per_s']:9.0f} img/s" if r.get("ms") else "       – ms"
    e = f"  [{r['error']}]" if r.get("error") else ""
    x = f"  check max|d|/max|ref| {r['check_max_rel']:.1e}" if r.get("check_max_rel") is not None else ""
    return f"  {r['model']:<11} batch {r['batch']:<4} {r['dtype']} {r['layout']} {r['engine']:<12} {t}{x}{e}"


def bench_e2e(args, deadline, log, checks):
    """The end-to-end rows; checks (a list) gets the torch networks' agreement with
    torchvision and onnxruntime."""
    import numpy as np
    torch, _, _ = torch_mods()
    from python_ref import build_models
    torch.backends.cudnn.benchmark = True
    seed = args.seed if args.seed is not None else build_models.DEFAULT_SEED
    rows = []
    tmp = args.models_dir or tempfile.mkdtemp(prefix="xsep-e2e-")
    os.makedirs(tmp, exist_ok=True)
    batches = [int(b) for b in args.batches.split(",") if b]
    for variant in ("mbv3s", "mbv3s-xsep"):
        model_onnx, weights = build_models.build_mbv3s(variant, seed)
        onnx_path = os.path.join(tmp, f"{variant}.onnx")
        with open(onnx_path, "wb") as f:
            f.write(model_onnx.SerializeToString())
        net = build_torch_model(weights).to(DEVICE)
        if variant == "mbv3s":
            try:
                tv = torchvision_mbv3s(weights).to(DEVICE)
                xin = torch.randn(2, 3, 224, 224, device=DEVICE)
                with torch.no_grad():
                    d = float((tv(xin) - net(xin)).abs().max() / net(xin).abs().max())
                log(f"  torchvision mobilenet_v3_small vs the mirror module: max|d|/max = {d:.1e}")
                checks.append({"check": "torchvision_vs_mirror", "model": variant, "max_rel": d})
                if d < 1e-4:
                    net = tv  # the baseline is torchvision's own network
                else:
                    log("  torchvision's network disagrees: timing the mirror module instead")
            except Exception as e:  # noqa: BLE001 - torchvision missing or changed
                log(f"  torchvision unavailable ({type(e).__name__}: {e}); timing the mirror module")
        # The torch network against onnxruntime on the ONNX file (weights copied right?).
        try:
            import onnxruntime as ort
            xin = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            want = sess.run(None, {"input": xin})[0]
            with torch.no_grad():
                got = net(torch.from_numpy(xin).to(DEVICE)).cpu().numpy()
            d = float(np.abs(got - want).max() / np.abs(want).max())
            log(f"  {variant}: torch module vs onnxruntime: max|d|/max = {d:.1e}")
            checks.append({"check": "torch_vs_onnxruntime", "model": variant, "max_rel": d})
        except Exception as e:  # noqa: BLE001
            log(f"  {variant}: onnxruntime check skipped ({type(e).__name__}: {e})")

        net = net.float().eval()
        for batch in batches:
            gen = np.random.default_rng(batch)
            x_np = gen.standard_normal((batch, 3, 224, 224)).astype(np.float32)
            # The reference logits: the float32 weights in float64 (batch <= 8), else in
            # float32; float16 runs are compared with the same reference (information).
            with torch.no_grad():
                if batch <= 8:
                    ref = copy.deepcopy(net).double()(torch.from_numpy(x_np).to(DEVICE).double())
                else:
                    ref = net(torch.from_numpy(x_np).to(DEVICE)).double()
            for dtype, layout in (("f32", "nchw"), ("f16", "nhwc")):
                if deadline():
                    log("budget exhausted: remaining end-to-end rows skipped")
                    return rows
                tdt = torch.float16 if dtype == "f16" else torch.float32
                fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
                m = copy.deepcopy(net).to(dtype=tdt).to(memory_format=fmt)
                x = torch.from_numpy(x_np).to(DEVICE).to(tdt).contiguous(memory_format=fmt)
                iters = args.e2e_iters if batch <= 8 else max(10, args.e2e_iters // 3)
                with torch.no_grad():
                    try:
                        rows.append(e2e_row(variant, batch, dtype, layout, "torch_eager", wall_ms(lambda: m(x), iters),
                                            check_max_rel=float((m(x).double() - ref).abs().max() / ref.abs().max())))
                    except Exception as e:  # noqa: BLE001
                        rows.append(e2e_row(variant, batch, dtype, layout, "torch_eager", error=str(e)[:200]))
                    log(e2e_text(rows[-1]))
                    rows.append(torch_graph_row(variant, batch, dtype, layout, m, x, ref, iters))
                    log(e2e_text(rows[-1]))
                if args.xsep_run:
                    rows.append(run_xsep_run(args, onnx_path, variant, batch, dtype, layout, x_np, ref, iters, tmp))
                    log(e2e_text(rows[-1]))
                    # float16: the pointwise GEMMs forced onto each kernel (xsep-run picks tensor
                    # cores only for grids of >= a block per SM: 132 on an H100 / H200), to measure what that choice is worth.
                    for gemm in (("cuda_core", "tensor_core") if dtype == "f16" else ()):
                        if deadline():
                            break
                        rows.append(run_xsep_run(args, onnx_path, variant, batch, dtype, layout, x_np, ref, iters,
                                                 tmp, gemm_kernel=gemm))
                        log(e2e_text(rows[-1]))
                m = x = None
                empty_cache()
            ref = None
    if not args.models_dir:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def torch_graph_row(variant, batch, dtype, layout, m, x, ref, iters):
    """m(x) captured once into a CUDA graph, then its replays timed (call under no_grad)."""
    import torch
    if DEVICE != "cuda":
        return e2e_row(variant, batch, dtype, layout, "torch_graph",
                       error="skipped: CUDA graphs need a GPU (--device cpu)")
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # cudnn.benchmark picks its algorithms here, not in the capture
                m(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = m(x)
        graph.replay()
        torch.cuda.synchronize()
        chk = float((out.double() - ref).abs().max() / ref.abs().max())
        return e2e_row(variant, batch, dtype, layout, "torch_graph", wall_ms(graph.replay, iters), check_max_rel=chk)
    except Exception as e:  # noqa: BLE001
        return e2e_row(variant, batch, dtype, layout, "torch_graph", error=str(e)[:200])


def run_xsep_run(args, onnx_path, variant, batch, dtype, layout, x_np, ref, iters, tmp, gemm_kernel=None):
    """One xsep-run row; gemm_kernel (cuda_core / tensor_core) forces its GEMM kernel (XSEP_GEMM_KERNEL),
    engine xsep_run[gemm=...]."""
    import numpy as np
    engine = "xsep_run" if gemm_kernel is None else f"xsep_run[gemm={gemm_kernel}]"
    env = None if gemm_kernel is None else {**os.environ, "XSEP_GEMM_KERNEL": gemm_kernel}
    inp, outp = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npy")
    np.save(inp, x_np)
    cmd = [args.xsep_run, onnx_path, "--input", inp, "--output", outp, "--batch", str(batch), "--dtype", dtype,
           "--layout", layout, "--iters", str(iters)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        return e2e_row(variant, batch, dtype, layout, engine, error="timed out after 300 s")
    m = LATENCY_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        return e2e_row(variant, batch, dtype, layout, engine,
                       error=f"exit {p.returncode}: {' '.join((p.stderr or p.stdout).strip().splitlines()[-1:])}")
    r = e2e_row(variant, batch, dtype, layout, engine)
    r.update(ms=float(m.group(2)), ms_p90=float(m.group(3)), images_per_s=float(m.group(4)), iters=int(m.group(1)))
    try:
        got = np.load(outp).astype(np.float64)
        want = ref.cpu().numpy()
        r["check_max_rel"] = float(np.abs(got - want).max() / np.abs(want).max())
    except Exception as e:  # noqa: BLE001
        r["check_error"] = str(e)[:200]
    return r


# ---------------------------------------------------------------- main

def context(xs, timer):
    import torch
    if DEVICE == "cpu":
        import platform
        return {"torch": torch.__version__, "torch_device": "cpu", "smoke_run": True,
                "device": f"CPU smoke run ({platform.machine()}, {os.cpu_count()} cores), not a GPU",
                "note": "--device cpu: xsep on its emulated device, torch on the CPU; the times mean nothing "
                        "for a GPU and bench/report.py refuses this file",
                "cuda": None, "cudnn": None, "timing": timer.method, "xsep_version": xs.version if xs else None,
                "tf32": False, "triton": None, "driver": None}
    ctx = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": str(torch.backends.cudnn.version()), "device": torch.cuda.get_device_name(0),
           "timing": timer.method, "xsep_version": xs.version if xs else None,
           "tf32": fp32_precision(torch)}
    try:
        import triton
        ctx["triton"] = triton.__version__
    except Exception:  # noqa: BLE001
        ctx["triton"] = None
    try:
        ctx["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                       capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        ctx["driver"] = None
    return ctx


def set_fp32_precision(torch, allow_tf32):
    """float32 convolutions and matmuls as TF32 or true float32. torch >= 2.9 has the
    fp32_precision settings and deprecates allow_tf32; torch.compile's Inductor refuses a
    mix of the two, so the new one is used wherever it exists."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        mode = "tf32" if allow_tf32 else "ieee"
        conv.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
    else:
        torch.backends.cudnn.allow_tf32 = allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32


def fp32_precision(torch):
    """What set_fp32_precision set, for the context: True when TF32 is allowed."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return conv.fp32_precision == "tf32"
    return bool(torch.backends.cudnn.allow_tf32)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    deadline = (lambda: time.time() - t0 > args.budget_s) if args.budget_s > 0 else (lambda: False)

    def log(msg):
        print(msg, flush=True)

    global DEVICE
    DEVICE = args.device
    import torch
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("bench_torch: torch sees no CUDA device: nothing to measure (--device cpu for a smoke run)",
              file=sys.stderr)
        return 2
    # True float32 unless asked: PyTorch's default runs float32 convolutions as TF32, which
    # is neither what xsep computes nor within SPEC 5's float32 tolerance.
    set_fp32_precision(torch, args.allow_tf32)
    xs = None
    if not args.no_kernels:
        if not os.path.exists(args.lib):
            need = "the CUDA configuration" if DEVICE == "cuda" else "an emulated build, -DXSEP_DEVICE=emu"
            print(f"bench_torch: {args.lib} not found (build {need}; --lib)", file=sys.stderr)
            return 2
        xs = Xsep(args.lib)
    timer = Timer(args.warmup_ms, args.rep_ms)
    doc = {"context": context(xs, timer), "args": vars(args), "kernels": [], "e2e": [], "e2e_checks": []}
    log(f"bench_torch: {doc['context']}")

    def save():
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)

    if not args.no_kernels:
        log("kernels:")
        try:
            kdeadline = ((lambda: deadline() or time.time() - t0 > args.kernels_budget_s)
                         if args.kernels_budget_s > 0 else deadline)
            doc["kernels"] = bench_kernels(args, xs, timer, kdeadline, log)
        except Exception as e:  # noqa: BLE001 - keep going to the end-to-end part
            log(f"kernels failed: {type(e).__name__}: {e}")
            doc["kernels_error"] = f"{type(e).__name__}: {e}"
        save()
    if not args.no_e2e:
        log("end to end:")
        try:
            doc["e2e"] = bench_e2e(args, deadline, log, doc["e2e_checks"])
        except Exception as e:  # noqa: BLE001 - keep the kernel numbers
            log(f"end to end failed: {type(e).__name__}: {e}")
            doc["e2e_error"] = f"{type(e).__name__}: {e}"
    doc["elapsed_s"] = time.time() - t0
    save()
    # An xsep row fails on a wrong output and on a call that returned an error status.
    failed = [r for r in doc["kernels"] if r["variant"].startswith("ours")
              and (r.get("error") or not (r.get("check") or {}).get("ok"))]
    broken = [k for k in ("kernels_error", "e2e_error") if k in doc]
    log(f"bench_torch: wrote {args.out} in {doc['elapsed_s']:.0f} s"
        + (f"; {len(failed)} xsep row(s) FAILED (wrong output or error status)" if failed else "")
        + (f"; {' and '.join(broken)}" if broken else ""))
    # 4: an xsep row computed a wrong output or returned an error (a correctness
    # failure on this card); 3: only a section of the harness broke. (1 is
    # Python's own exit status for an uncaught exception: a harness failure.)
    return 4 if failed else 3 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
