# Writes the golden vectors of the C++ tests: `python3 -m python_ref.goldens OUT_DIR`
# (from the repo root). One text file per case plus index.txt; the format is described
# in python_ref/GOLDEN_FORMAT.md. Outputs come from the float64 reference (xsep_ref).
import os
import re
import sys

import numpy as np

from . import xsep_ref as R

FORMAT_VERSION = 1
BASE_SEED = 20240521  # fixed: the same files on every run
ACTS = ["NONE", "RELU", "RELU6", "HARDSWISH"]
# (has_scale, has_bias) combinations, rotated together with the activations.
SCALE_BIAS = [(0, 0), (1, 0), (0, 1), (1, 1)]
COMBOS = [("f32", "nchw"), ("f32", "nhwc"), ("f16", "nchw"), ("f16", "nhwc")]
DIRECTIONS = ["TOP_LEFT", "TOP_RIGHT", "BOTTOM_LEFT", "BOTTOM_RIGHT", "SYMMETRIC"]
DIR_TAG = {"TOP_LEFT": "tl", "TOP_RIGHT": "tr", "BOTTOM_LEFT": "bl", "BOTTOM_RIGHT": "br",
           "SYMMETRIC": "sym"}
KS = [1, 3, 5, 7, 9, 13, 31]
NUMBERS_PER_LINE = 8


def f32(rng, shape, lo, hi):
    """Uniform values drawn as float32 so every written value is float32-representable."""
    return rng.uniform(lo, hi, shape).astype(np.float32)


def weights(rng, shape, taps):
    return f32(rng, shape, -1.0, 1.0) / np.float32(np.sqrt(taps))


class CaseSet:
    """Builds the cases in a fixed order; each case has its own generator seeded by its
    index, and epilogue settings rotate so every (act, scale, bias) combination occurs."""

    def __init__(self):
        self.cases, self._ep_counter, self._names = [], 0, {}

    def _next_ep(self, rng, c):
        i = self._ep_counter
        self._ep_counter += 1
        has_scale, has_bias = SCALE_BIAS[(i // 4) % 4]
        # Wide enough that pre-activation values (|conv| <~ 1.7) pass ReLU6's cap and
        # hard-swish's -3 and +3 corners: a clamp coded wrongly must change y.
        scale = f32(rng, c, 0.5, 4.5) if has_scale else None
        bias = f32(rng, c, -3.0, 3.0) if has_bias else None
        return (scale, bias, ACTS[i % 4])

    def _name(self, base):
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return f"{base}_{n}"

    def add(self, op, combo, shape, k=2, stride=1, pad="TOP_LEFT"):
        dtype, layout = combo
        rng = np.random.default_rng((BASE_SEED, len(self.cases)))
        n, c, h, w = shape
        x = f32(rng, shape, -1.0, 1.0)
        if dtype == "f16":
            x = x.astype(np.float16)  # the reference reads the same float16-rounded inputs
        x = x.astype(np.float64)
        tensors = [("x", x)]
        if op == "xsepconv":
            w2, w1, wk = weights(rng, (c, 2, 2), 4), weights(rng, (c, k), k), weights(rng, (c, k), k)
            eps = [("ep2x2", self._next_ep(rng, c)), ("ep1xk", self._next_ep(rng, c)),
                   ("epkx1", self._next_ep(rng, c))]
            y = R.xsepconv(x, w2, w1, wk, k, stride, pad, *[e for _, e in eps])
            tensors += [("w2x2", w2), ("w1xk", w1), ("wkx1", wk)]
            tag = f"k{k}_s{stride}_{DIR_TAG[pad]}"
        else:
            ep = self._next_ep(rng, c)
            eps = [("ep", ep)]
            if op == "dwconv2x2":
                k, stride = 2, 1
                wt = weights(rng, (c, 2, 2), 4)
                y = R.dwconv2x2(x, wt, pad)
                tag = f"{DIR_TAG[pad]}_c{c}"
            else:
                wt = weights(rng, (c, k, k) if op == "dwconvkxk" else (c, k),
                             k * k if op == "dwconvkxk" else k)
                y = {"dwconv1xk": R.dwconv1xk, "dwconvkx1": R.dwconvkx1,
                     "dwconvkxk": R.dwconvkxk}[op](x, wt, stride)
                pad = None
                tag = f"k{k}_s{stride}"
            y = R.epilogue(y, *ep)
            tensors.append(("w", wt))
        for nm, (scale, bias, _) in eps:
            if scale is not None:
                tensors.append((nm + ".scale", scale))
            if bias is not None:
                tensors.append((nm + ".bias", bias))
        tensors.append(("y", y))
        if layout == "nhwc":  # x and y are written in the case's layout order
            tensors = [(nm, t.transpose(0, 2, 3, 1) if nm in ("x", "y") else t) for nm, t in tensors]
        self.cases.append({
            "name": self._name(f"{op}_{dtype}_{layout}_{tag}"),
            "op": op, "dtype": dtype, "layout": layout, "shape": shape, "out_shape": y.shape,
            "k": k, "stride": stride, "pad": 0 if pad is None else R.PAD[pad],
            "eps": [(nm, R.ACT[act], scale is not None, bias is not None)
                    for nm, (scale, bias, act) in eps],
            "tensors": tensors,
        })


def build_cases():
    cs = CaseSet()
    shape_rng = np.random.default_rng(BASE_SEED)  # chooses the generic shapes

    def rshape(cmax=6, hmax=10, hmin=1):
        return (int(shape_rng.integers(1, 3)), int(shape_rng.integers(1, cmax + 1)),
                int(shape_rng.integers(hmin, hmax + 1)), int(shape_rng.integers(hmin, hmax + 1)))

    ci = 0  # rotates dtype/layout across cases that are not swept over all four

    def combo():
        nonlocal ci
        ci += 1
        return COMBOS[(ci - 1) % 4]

    # 2x2: every direction in every dtype/layout.
    for pad in DIRECTIONS:
        for cb in COMBOS:
            cs.add("dwconv2x2", cb, rshape(cmax=9, hmin=2), pad=pad)
    # SYMMETRIC with C = 1..9 (uneven and empty channel groups).
    for c in range(1, 10):
        for cb in (COMBOS[0], COMBOS[3]):
            cs.add("dwconv2x2", cb, (1, c, int(shape_rng.integers(1, 8)), int(shape_rng.integers(1, 8))),
                   pad="SYMMETRIC")
    # 2x2 on a 1x1 image, a single row and a single column.
    for pad in DIRECTIONS:
        for hw in ((1, 1), (1, 7), (6, 1)):
            cs.add("dwconv2x2", combo(), (1, 5) + hw, pad=pad)
    # 1xK, Kx1, KxK: every K and stride, twice each with different dtype/layout.
    # H, W <= 10 < 13 < 31: the large K always cover images smaller than the filter.
    for op in ("dwconv1xk", "dwconvkx1", "dwconvkxk"):
        for k in KS:
            for stride in (1, 2):
                for _ in range(2):
                    cmax = 2 if (op == "dwconvkxk" and k >= 13) else 6  # keep KxK weights small
                    cs.add(op, combo(), rshape(cmax=cmax), k=k, stride=stride)
    # Stride 2 with odd and even H and W.
    for op in ("dwconv1xk", "dwconvkx1", "dwconvkxk", "xsepconv"):
        for i, hw in enumerate(((7, 9), (8, 10), (7, 10), (8, 9))):
            cs.add(op, combo(), (1, 3) + hw, k=(3, 5)[i % 2], stride=2, pad=DIRECTIONS[i])
    # 1x1 spatial inputs, small and huge K.
    for op in ("dwconv1xk", "dwconvkx1", "dwconvkxk", "xsepconv"):
        for k in (3, 31):
            for stride in (1, 2):
                cs.add(op, combo(), (2, 3, 1, 1), k=k, stride=stride, pad="SYMMETRIC")
    # XSepConv: every direction, both strides, every dtype/layout; K rotates.
    i = 0
    for pad in DIRECTIONS:
        for stride in (1, 2):
            for cb in COMBOS:
                cs.add("xsepconv", cb, rshape(cmax=9), k=KS[i % len(KS)], stride=stride, pad=pad)
                i += 1
    return cs.cases


def _fmt(t):
    # repr() of a Python float: the shortest text that reads back as exactly this double.
    vals = [repr(float(v)) for v in np.asarray(t, dtype=np.float64).ravel()]
    return ["  ".join(vals[i:i + NUMBERS_PER_LINE]) for i in range(0, len(vals), NUMBERS_PER_LINE)]


def case_text(case):
    lines = [f"xsep-golden {FORMAT_VERSION}",
             f"op {case['op']}",
             f"dtype {case['dtype']}",
             f"layout {case['layout']}",
             "shape " + " ".join(map(str, case["shape"])),
             "out_shape " + " ".join(map(str, case["out_shape"])),
             f"k {case['k']}",
             f"stride {case['stride']}",
             f"pad {case['pad']}"]
    for nm, act, hs, hb in case["eps"]:
        lines.append(f"epilogue {nm} {act} {int(hs)} {int(hb)}")
    for nm, t in case["tensors"]:
        lines.append(f"tensor {nm} {np.size(t)}")
        lines += _fmt(t)
    lines.append("end")
    return "\n".join(lines) + "\n"


def write_all(out_dir):
    """Writes every case and index.txt; returns (number of cases, total bytes)."""
    os.makedirs(out_dir, exist_ok=True)
    files, total = [], 0
    for case in build_cases():
        assert re.fullmatch(r"[A-Za-z0-9_]+", case["name"]), case["name"]
        fname = case["name"] + ".txt"
        text = case_text(case)
        with open(os.path.join(out_dir, fname), "w", newline="\n") as f:
            f.write(text)
        files.append(fname)
        total += len(text)
    index = "".join(f + "\n" for f in files)
    with open(os.path.join(out_dir, "index.txt"), "w", newline="\n") as f:
        f.write(index)
    return len(files), total + len(index)


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -m python_ref.goldens OUT_DIR", file=sys.stderr)
        return 2
    n, size = write_all(argv[1])
    print(f"wrote {n} golden cases ({size} bytes) to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
