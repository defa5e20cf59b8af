# Guards the golden writer: runs `python3 -m python_ref.goldens` into a temporary folder,
# parses every case back with a strict reader written from GOLDEN_FORMAT.md, checks the
# coverage the C++ tests rely on, and recomputes each output with xsep_ref.
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from python_ref import xsep_ref as R

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER_KEYS = {"op", "dtype", "layout", "shape", "out_shape", "k", "stride", "pad"}


def parse_case(path):
    """Strict reader of one case file (format version 1)."""
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[0] == "xsep-golden 1"
    assert lines[-1] == "" and lines[-2] == "end", "last line is `end`"
    case, eps, tensors = {}, {}, {}
    i = 1
    while i < len(lines) - 2:
        tok = lines[i].split()
        i += 1
        if tok[0] == "tensor":
            name, count = tok[1], int(tok[2])
            vals = []
            while len(vals) < count:
                vals += [float(v) for v in lines[i].split()]
                i += 1
            assert len(vals) == count and name not in tensors
            tensors[name] = np.array(vals, dtype=np.float64)
        elif tok[0] == "epilogue":
            assert not tensors, "header lines come before the tensors"
            eps[tok[1]] = (int(tok[2]), int(tok[3]), int(tok[4]))
        else:
            assert tok[0] in HEADER_KEYS and tok[0] not in case and not tensors
            case[tok[0]] = tok[1] if tok[0] in ("op", "dtype", "layout") else [int(t) for t in tok[1:]]
    assert set(case) == HEADER_KEYS
    case["eps"], case["tensors"] = eps, tensors
    return case


def from_layout(flat, shape, layout):
    n, c, h, w = shape
    if layout == "nchw":
        return flat.reshape(n, c, h, w)
    return flat.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def ep_tuple(case, name):
    act, has_scale, has_bias = case["eps"][name]
    t = case["tensors"]
    return (t[name + ".scale"] if has_scale else None, t[name + ".bias"] if has_bias else None, act)


def recompute(case):
    t = case["tensors"]
    x = from_layout(t["x"], case["shape"], case["layout"])
    c, (k,), (stride,), (pad,) = case["shape"][1], case["k"], case["stride"], case["pad"]
    op = case["op"]
    if op == "xsepconv":
        return R.xsepconv(x, t["w2x2"].reshape(c, 2, 2), t["w1xk"].reshape(c, k), t["wkx1"].reshape(c, k),
                          k, stride, pad, ep_tuple(case, "ep2x2"), ep_tuple(case, "ep1xk"),
                          ep_tuple(case, "epkx1"))
    if op == "dwconv2x2":
        y = R.dwconv2x2(x, t["w"].reshape(c, 2, 2), pad)
    elif op == "dwconvkxk":
        y = R.dwconvkxk(x, t["w"].reshape(c, k, k), stride)
    else:
        y = {"dwconv1xk": R.dwconv1xk, "dwconvkx1": R.dwconvkx1}[op](x, t["w"].reshape(c, k), stride)
    return R.epilogue(y, *ep_tuple(case, "ep"))


@pytest.fixture(scope="module")
def goldens(tmp_path_factory):
    out = tmp_path_factory.mktemp("goldens")
    subprocess.run([sys.executable, "-m", "python_ref.goldens", str(out)], cwd=REPO, check=True,
                   capture_output=True)
    with open(out / "index.txt") as f:
        names = f.read().split("\n")
    assert names[-1] == ""
    names = names[:-1]
    assert sorted(names) == sorted(p.name for p in out.iterdir() if p.name != "index.txt")
    return out, names, {nm: parse_case(out / nm) for nm in names}


def test_files_and_size(goldens):
    out, names, _ = goldens
    assert 150 <= len(names) <= 300
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+\.txt", nm) for nm in names)
    assert sum(os.path.getsize(p) for p in out.iterdir()) < 3_000_000


def test_cases_are_consistent_and_recompute(goldens):
    _, _, cases = goldens
    for nm, case in cases.items():
        t, (n, c, h, w), op = case["tensors"], case["shape"], case["op"]
        (k,), (stride,), (pad,) = case["k"], case["stride"], case["pad"]
        assert case["dtype"] in ("f32", "f16") and case["layout"] in ("nchw", "nhwc"), nm
        ep_names = ["ep2x2", "ep1xk", "epkx1"] if op == "xsepconv" else ["ep"]
        assert sorted(case["eps"]) == sorted(ep_names), nm
        expect = {"x", "y"} | ({"w2x2", "w1xk", "wkx1"} if op == "xsepconv" else {"w"})
        for e in ep_names:
            act, hs, hb = case["eps"][e]
            assert act in R.ACT.values() and hs in (0, 1) and hb in (0, 1)
            expect |= {e + ".scale"} if hs else set()
            expect |= {e + ".bias"} if hb else set()
        assert set(t) == expect, nm
        if op == "dwconv2x2":
            assert (k, stride) == (2, 1) and pad in R.PAD.values(), nm
        else:
            assert k % 2 == 1 and stride in (1, 2), nm
            assert pad in R.PAD.values() if op == "xsepconv" else pad == 0, nm
        # Weights, scales and biases float32-representable; f16 inputs float16-representable.
        for name, v in t.items():
            if name not in ("x", "y"):
                np.testing.assert_array_equal(v.astype(np.float32).astype(np.float64), v)
        io = np.float16 if case["dtype"] == "f16" else np.float32
        np.testing.assert_array_equal(t["x"].astype(io).astype(np.float64), t["x"])
        assert np.abs(t["x"]).max() <= 1.0 and np.any(t["x"] != 0), nm
        ref = recompute(case)
        assert list(ref.shape) == case["out_shape"], nm
        if op != "dwconv2x2":
            assert case["out_shape"][2:] == [
                (h - 1) // stride + 1 if op != "dwconv1xk" else h,
                (w - 1) // stride + 1 if op != "dwconvkx1" else w], nm
        y = from_layout(t["y"], case["out_shape"], case["layout"])
        np.testing.assert_array_equal(y, ref, err_msg=nm)  # same float64 code: bit-exact


def test_coverage(goldens):
    _, _, cases = goldens
    cs = list(cases.values())
    ops = ["dwconv2x2", "dwconv1xk", "dwconvkx1", "dwconvkxk", "xsepconv"]
    for op in ops:
        mine = [c for c in cs if c["op"] == op]
        assert {(c["dtype"], c["layout"]) for c in mine} == {
            ("f32", "nchw"), ("f32", "nhwc"), ("f16", "nchw"), ("f16", "nhwc")}, op
        assert {e[0] for c in mine for e in c["eps"].values()} == set(range(4)), op
        assert {e[1:] for c in mine for e in c["eps"].values()} == {(0, 0), (0, 1), (1, 0), (1, 1)}, op
        assert any(c["shape"][2:] == [1, 1] for c in mine), op
    for op in ops[1:]:
        mine = [c for c in cs if c["op"] == op]
        assert {c["k"][0] for c in mine} >= {1, 3, 5, 7, 9, 13, 31}, op
        s2 = {(c["shape"][2] % 2, c["shape"][3] % 2) for c in mine if c["stride"] == [2]}
        assert s2 == {(0, 0), (0, 1), (1, 0), (1, 1)}, op
        assert any(c["k"] == [31] and min(c["shape"][2:]) < 31 for c in mine), op
    assert {c["pad"][0] for c in cs if c["op"] == "dwconv2x2"} == set(range(5))
    assert {c["shape"][1] for c in cs if c["op"] == "dwconv2x2" and c["pad"] == [4]} >= set(range(1, 10))
    assert {(c["pad"][0], c["stride"][0]) for c in cs if c["op"] == "xsepconv"} == {
        (p, s) for p in range(5) for s in (1, 2)}
