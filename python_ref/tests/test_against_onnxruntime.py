# Cross-checks the float64 numpy reference (xsep_ref) against onnxruntime's float32 Conv
# models (onnx_models), against the SPEC's index formulas written as plain loops, and the
# epilogue against a separately written numpy formula; plus the padding schedule rule.
import itertools
import zlib

import numpy as np
import pytest

from python_ref import onnx_models as M
from python_ref import xsep_ref as R

DIRECTIONS = ["TOP_LEFT", "TOP_RIGHT", "BOTTOM_LEFT", "BOTTOM_RIGHT", "SYMMETRIC"]
ACTS = ["NONE", "RELU", "RELU6", "HARDSWISH"]
KS = [1, 3, 5, 7, 9, 31]
# Tiny and odd shapes (N, C, H, W): 1x1 spatial, a single row / column, odd and even sizes.
SHAPES = [(1, 3, 5, 7), (2, 2, 1, 1), (1, 2, 1, 6), (1, 3, 6, 1), (2, 4, 4, 6), (1, 2, 9, 3)]


def rand(rng, shape, lo=-1.0, hi=1.0):
    """float32 uniform values; exact zeros replaced so no test runs on zeros."""
    a = rng.uniform(lo, hi, shape).astype(np.float32)
    a[a == 0] = 0.5
    return a


def seeded(*key):
    """A generator seeded from the test's parameters (crc32: stable across processes,
    unlike the salted hash()), so every case is reproducible."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def close(got, ref):
    """float32 onnxruntime vs float64 numpy, both float32 bounds of SPEC 5 (plus a tiny
    epsilon for references near zero): max|diff| <= 1e-4 * max|ref| and
    ||diff||_2 <= 1e-5 * ||ref||_2."""
    assert got.shape == ref.shape
    diff = got.astype(np.float64) - ref
    err = np.abs(diff).max(initial=0.0)
    assert err <= 1e-4 * np.abs(ref).max(initial=0.0) + 1e-6, f"max|diff| {err}"
    l2 = np.linalg.norm(diff.ravel())
    assert l2 <= 1e-5 * np.linalg.norm(ref.ravel()) + 1e-6, f"||diff||_2 {l2}"


def random_ep(rng, c):
    """A random epilogue tuple (scale|None, bias|None, act)."""
    return (rand(rng, c, 0.5, 1.5) if rng.random() < 0.7 else None,
            rand(rng, c, -0.5, 0.5) if rng.random() < 0.7 else None,
            ACTS[rng.integers(4)])


# ---------------------------------------------------------------- 2x2 depthwise

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pad", DIRECTIONS)
def test_dwconv2x2(pad, shape):
    rng = seeded("2x2", pad, shape)
    x, w = rand(rng, shape), rand(rng, (shape[1], 2, 2))
    ref = R.dwconv2x2(x, w, pad)
    assert ref.shape == shape
    close(M.run(M.dwconv2x2_model(w, pad), x), ref)
    close(M.run(M.dwconv2x2_model(w, R.PAD[pad]), x), R.dwconv2x2(x, w, R.PAD[pad]))  # int enum


@pytest.mark.parametrize("hw", [(5, 6), (1, 1), (3, 1)])
@pytest.mark.parametrize("c", range(1, 10))
def test_dwconv2x2_symmetric_channels(c, hw):
    rng = seeded("sym", c, hw)
    x, w = rand(rng, (2, c) + hw), rand(rng, (c, 2, 2))
    close(M.run(M.dwconv2x2_model(w, "SYMMETRIC"), x), R.dwconv2x2(x, w, "SYMMETRIC"))


@pytest.mark.parametrize("c", range(1, 10))
def test_symmetric_groups_match_directions(c):
    # SYMMETRIC must equal, channel by channel, the direction of its array_split group.
    rng = seeded("symgroups", c)
    x, w = rand(rng, (1, c, 4, 5)), rand(rng, (c, 2, 2))
    y = R.dwconv2x2(x, w, "SYMMETRIC")
    q, m = divmod(c, 4)
    sizes = [q + 1 if g < m else q for g in range(4)]  # C = 4q + m: first m groups get q+1
    start = 0
    for size, d in zip(sizes, ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT"]):
        sl = slice(start, start + size)
        np.testing.assert_array_equal(y[:, sl], R.dwconv2x2(x[:, sl], w[sl], d))
        start += size
    assert start == c


# ---------------------------------------------------------------- 1xK, Kx1, KxK

@pytest.mark.parametrize("shape", SHAPES[:5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("op", ["1xk", "kx1", "kxk"])
def test_dwconv_k(op, k, stride, shape):
    rng = seeded(op, k, stride, shape)
    n, c, h, w_ = shape
    x = rand(rng, shape)
    wshape = (c, k, k) if op == "kxk" else (c, k)
    w = rand(rng, wshape) / np.float32(np.sqrt(np.prod(wshape[1:])))
    ref_fn, model_fn = {"1xk": (R.dwconv1xk, M.dwconv1xk_model),
                        "kx1": (R.dwconvkx1, M.dwconvkx1_model),
                        "kxk": (R.dwconvkxk, M.dwconvkxk_model)}[op]
    ref = ref_fn(x, w, stride)
    ho = (h - 1) // stride + 1 if op != "1xk" else h
    wo = (w_ - 1) // stride + 1 if op != "kx1" else w_
    assert ref.shape == (n, c, ho, wo)
    close(M.run(model_fn(w, stride), x), ref)


@pytest.mark.parametrize("op", ["2x2", "1xk", "kx1", "kxk"])
def test_single_op_with_fused_epilogue(op):
    # Each op followed by a scale/bias/activation epilogue, against Conv + Mul/Add/act nodes.
    for i, act in enumerate(ACTS):
        rng = seeded("fused", op, act)
        x = rand(rng, (2, 5, 7, 6))
        ep = (rand(rng, 5, 0.5, 1.5), rand(rng, 5, -0.5, 0.5), act)
        if op == "2x2":
            w, pad = rand(rng, (5, 2, 2)), DIRECTIONS[i]
            ref = R.epilogue(R.dwconv2x2(x, w, pad), *ep)
            got = M.run(M.dwconv2x2_model(w, pad, ep), x)
        else:
            w = rand(rng, (5, 5, 5) if op == "kxk" else (5, 5))
            ref_fn, model_fn = {"1xk": (R.dwconv1xk, M.dwconv1xk_model),
                                "kx1": (R.dwconvkx1, M.dwconvkx1_model),
                                "kxk": (R.dwconvkxk, M.dwconvkxk_model)}[op]
            stride = 1 + i % 2
            ref = R.epilogue(ref_fn(x, w, stride), *ep)
            got = M.run(model_fn(w, stride, ep), x)
        close(got, ref)


# ---------------------------------------------------------------- the SPEC's formulas as loops

def loop_conv(x, w, dh, dw, sh, sw, ho, wo):
    """y[n,c,h,w] = sum_ij w[c,i,j] * x[n,c, sh*h + dh + i, sw*w + dw + j], zero outside."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[1:]
    y = np.zeros((n, c, ho, wo))
    for a, b, p, q, i, j in itertools.product(range(n), range(c), range(ho), range(wo),
                                              range(kh), range(kw)):
        r, s = sh * p + dh + i, sw * q + dw + j
        if 0 <= r < h and 0 <= s < wd:
            y[a, b, p, q] += float(w[b, i, j]) * float(x[a, b, r, s])
    return y


@pytest.mark.parametrize("stride", [1, 2])
def test_against_spec_formulas(stride):
    rng = seeded("loops", stride)
    x = rand(rng, (1, 2, 5, 4))
    h, w_ = 5, 4
    # SPEC 2.1: offsets (row, column) of tap (0,0) for each direction.
    offs = {"TOP_LEFT": (-1, -1), "TOP_RIGHT": (-1, 0), "BOTTOM_LEFT": (0, -1), "BOTTOM_RIGHT": (0, 0)}
    w2 = rand(rng, (2, 2, 2))
    for d, (dh, dw) in offs.items():
        np.testing.assert_allclose(R.dwconv2x2(x, w2, d), loop_conv(x, w2, dh, dw, 1, 1, h, w_),
                                   rtol=0, atol=1e-12)
    for k in (1, 3, 5):
        ho, wo = (h - 1) // stride + 1, (w_ - 1) // stride + 1
        w1 = rand(rng, (2, k))
        np.testing.assert_allclose(R.dwconv1xk(x, w1, stride),
                                   loop_conv(x, w1[:, None, :], 0, -(k // 2), 1, stride, h, wo),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(R.dwconvkx1(x, w1, stride),
                                   loop_conv(x, w1[:, :, None], -(k // 2), 0, stride, 1, ho, w_),
                                   rtol=0, atol=1e-12)
        wk = rand(rng, (2, k, k))
        np.testing.assert_allclose(R.dwconvkxk(x, wk, stride),
                                   loop_conv(x, wk, -(k // 2), -(k // 2), stride, stride, ho, wo),
                                   rtol=0, atol=1e-12)


# ---------------------------------------------------------------- epilogue

def plain_epilogue(y, scale, bias, act):
    """SPEC 2.4 written out element by element, independently of xsep_ref."""
    out = np.empty(y.shape)
    for idx in np.ndindex(*y.shape):
        v = float(y[idx])
        c = idx[1]
        v = v * (1.0 if scale is None else float(scale[c])) + (0.0 if bias is None else float(bias[c]))
        if act == "RELU":
            v = max(0.0, v)
        elif act == "RELU6":
            v = min(max(0.0, v), 6.0)
        elif act == "HARDSWISH":
            v = v * min(max(v + 3.0, 0.0), 6.0) / 6.0
        out[idx] = v
    return out


@pytest.mark.parametrize("has_bias", [False, True])
@pytest.mark.parametrize("has_scale", [False, True])
@pytest.mark.parametrize("act", ACTS)
def test_epilogue(act, has_scale, has_bias):
    rng = seeded("ep", act, has_scale, has_bias)
    # Values in [-8, 8] reach every piece of RELU6 and HARDSWISH (below -3, above 3 and 6).
    y = rand(rng, (2, 3, 4, 5), -8.0, 8.0)
    scale = rand(rng, 3, 0.5, 1.5) if has_scale else None
    bias = rand(rng, 3, -0.5, 0.5) if has_bias else None
    ref = R.epilogue(y, scale, bias, act)
    np.testing.assert_allclose(ref, plain_epilogue(y, scale, bias, act), rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(ref, R.epilogue(y, scale, bias, R.ACT[act]))  # int enum
    close(M.run(M.epilogue_model(scale, bias, act), y), ref)


# ---------------------------------------------------------------- the XSepConv block

XSEP_CASES = [  # (pad, k, stride, shape)
    ("TOP_LEFT", 3, 1, (1, 4, 6, 7)),
    ("TOP_RIGHT", 5, 2, (2, 3, 7, 6)),
    ("BOTTOM_LEFT", 7, 1, (1, 5, 9, 8)),
    ("BOTTOM_RIGHT", 7, 2, (1, 2, 9, 9)),
    ("SYMMETRIC", 9, 1, (1, 7, 5, 6)),
    ("SYMMETRIC", 5, 2, (2, 6, 8, 7)),
    ("SYMMETRIC", 31, 2, (1, 9, 11, 4)),
    ("TOP_LEFT", 31, 1, (1, 3, 1, 1)),
    ("BOTTOM_RIGHT", 1, 2, (1, 3, 4, 5)),
]


@pytest.mark.parametrize("pad,k,stride,shape", XSEP_CASES)
def test_xsepconv(pad, k, stride, shape):
    rng = seeded("xsep", pad, k, stride, shape)
    n, c, h, w_ = shape
    x = rand(rng, shape)
    w2 = rand(rng, (c, 2, 2)) / np.float32(2)
    w1 = rand(rng, (c, k)) / np.float32(np.sqrt(k))
    wk = rand(rng, (c, k)) / np.float32(np.sqrt(k))
    eps = [random_ep(rng, c) for _ in range(3)]
    ref = R.xsepconv(x, w2, w1, wk, k, stride, pad, *eps)
    assert ref.shape == (n, c, (h - 1) // stride + 1, (w_ - 1) // stride + 1)
    close(M.run(M.xsepconv_model(w2, w1, wk, k, stride, pad, *eps), x), ref)
    # Identity epilogues: the block is the plain composition of the three passes.
    np.testing.assert_allclose(R.xsepconv(x, w2, w1, wk, k, stride, pad),
                               R.dwconvkx1(R.dwconv1xk(R.dwconv2x2(x, w2, pad), w1, stride), wk, stride),
                               rtol=0, atol=0)


# ---------------------------------------------------------------- padding schedule (SPEC 3)

EXPECTED_SCHEDULE = {  # written out by hand: BR, TL, BL, TR repeating; odd N ends in SYMMETRIC
    1: ["SYMMETRIC"],
    2: ["BOTTOM_RIGHT", "TOP_LEFT"],
    3: ["BOTTOM_RIGHT", "TOP_LEFT", "SYMMETRIC"],
    4: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT"],
    5: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "SYMMETRIC"],
    6: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT"],
    7: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
        "SYMMETRIC"],
    8: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
        "BOTTOM_LEFT", "TOP_RIGHT"],
    9: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
        "BOTTOM_LEFT", "TOP_RIGHT", "SYMMETRIC"],
    10: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
         "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT"],
    11: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
         "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT", "SYMMETRIC"],
    12: ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT",
         "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT"],
}


@pytest.mark.parametrize("n", range(1, 13))
def test_padding_schedule(n):
    assert R.padding_schedule(n) == EXPECTED_SCHEDULE[n]


def test_padding_schedule_mbv3_variants():
    # SPEC 4: mbv3s-xsep has N = 6 -> BR, TL, BL, TR, BR, TL.
    assert [R.PAD[d] for d in R.padding_schedule(6)] == [3, 0, 2, 1, 3, 0]
    assert R.padding_schedule(0) == []
