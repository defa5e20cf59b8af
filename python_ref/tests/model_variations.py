"""Seeded variations of an ONNX model that keep it valid, for test_varied_models.py.

model_mutations.py breaks models; these do not. Each variation is a change an
exporter could legitimately make, that keeps every tensor's shape, and that
the cuda backend's pattern matching (src/graph/lower.cpp: XSepConv chains,
depthwise operators, BatchNorm and activation absorption, SE scales, residual
adds) must either fuse exactly or leave to the general kernels:
  - a 2x2 conv padded towards another corner;
  - a 1xK, Kx1 or KxK depthwise conv padded asymmetrically (same total);
  - a dilated 1xK / Kx1 (stride 1, padding scaled to keep the size);
  - a depthwise conv given a bias;
  - the 1xK and Kx1 of an XSepConv chain in the other order;
  - an activation replaced (Relu, HardSwish, Clip with or without bounds,
    HardSigmoid's alpha and beta);
  - a BatchNorm's epsilon or one channel's variance or mean changed;
  - one channel of a depthwise weight zeroed, negated or scaled by 100;
  - an activation or BatchNorm removed;
  - the operands of a residual Add or an SE Mul swapped.
"""
import random

import numpy as np
import onnx
from onnx import helper, numpy_helper

DIRECTIONS = [[1, 1, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 0, 1, 1]]  # TL, TR, BL, BR (SPEC 2.1)


def _attr(n, name, default=None):
    for a in n.attribute:
        if a.name == name:
            return list(a.ints) if a.type == onnx.AttributeProto.INTS else a.i
    return default


def _set_ints(n, name, values):
    for a in n.attribute:
        if a.name == name:
            del a.ints[:]
            a.ints.extend(values)
            return
    n.attribute.append(helper.make_attribute(name, values))


def _inits(g):
    return {t.name: t for t in g.initializer}


def _depthwise(g):
    """Depthwise convs: group == output channels > 1."""
    inits = _inits(g)
    out = []
    for n in g.node:
        if n.op_type != "Conv" or n.input[1] not in inits:
            continue
        dims = list(inits[n.input[1]].dims)
        if _attr(n, "group", 1) == dims[0] > 1 and dims[1] == 1:
            out.append((n, dims[2], dims[3]))
    return out


def _pick(rng, items):
    return rng.choice(items) if items else None


def _pads_2x2(g, rng):
    c = _pick(rng, [n for n, kh, kw in _depthwise(g) if (kh, kw) == (2, 2)])
    if c is None:
        return None
    pads = rng.choice([d for d in DIRECTIONS if d != _attr(c, "pads")])
    _set_ints(c, "pads", pads)
    return f"{c.name}: 2x2 pads {pads}"


def _pads_asymmetric(g, rng):
    c = _pick(rng, [(n, kh, kw) for n, kh, kw in _depthwise(g) if max(kh, kw) >= 3 and kh % 2 == kw % 2 == 1])
    if c is None:
        return None
    n, kh, kw = c
    pads = _attr(n, "pads")
    axis = rng.choice([a for a, k in ((0, kh), (1, kw)) if k >= 3])  # 0: rows, 1: columns
    shift = rng.choice([s for s in range(-pads[axis + 2], pads[axis] + 1) if s != 0])
    pads[axis] -= shift
    pads[axis + 2] += shift
    _set_ints(n, "pads", pads)
    return f"{n.name}: pads {pads}"


def _dilated(g, rng):
    c = _pick(rng, [(n, kh, kw) for n, kh, kw in _depthwise(g)
                    if (kh == 1) != (kw == 1) and _attr(n, "strides") == [1, 1]])
    if c is None:
        return None
    n, kh, kw = c
    _set_ints(n, "dilations", [1 if kh == 1 else 2, 1 if kw == 1 else 2])
    _set_ints(n, "pads", [2 * p for p in _attr(n, "pads")])
    return f"{n.name}: dilation 2"


def _depthwise_bias(g, rng):
    c = _pick(rng, [n for n, _, _ in _depthwise(g) if len(n.input) == 2])
    if c is None:
        return None
    channels = _inits(g)[c.input[1]].dims[0]
    b = np.random.default_rng(rng.randrange(1 << 30)).standard_normal(channels).astype(np.float32)
    g.initializer.append(numpy_helper.from_array(b, c.name + ".added_bias"))
    c.input.append(c.name + ".added_bias")
    return f"{c.name}: bias added"


def _line_order(g, rng):
    """1xK -> (BN, act) -> Kx1 becomes Kx1 -> (BN, act) -> 1xK: both weights
    transposed, kernel shapes, pads and strides swapped (the output size is the same)."""
    inits, convs = _inits(g), _depthwise(g)
    rows = [i for i, n in enumerate(g.node) if any(n.name == m.name for m, kh, kw in convs if kh == 1 and kw > 1)]
    cols = [i for i, n in enumerate(g.node) if any(n.name == m.name for m, kh, kw in convs if kw == 1 and kh > 1)]
    if not rows:
        return None
    i = rng.choice(rows)
    j = next((j for j in cols if j > i), None)  # the Kx1 that follows, in node order
    if j is None:
        return None
    first, second = g.node[i], g.node[j]
    for n in (first, second):
        w = inits[n.input[1]]
        dims = list(w.dims)
        w.dims[:] = [dims[0], dims[1], dims[3], dims[2]]  # [C,1,1,K] <-> [C,1,K,1]: same data order
        _set_ints(n, "kernel_shape", _attr(n, "kernel_shape")[::-1])
        p = _attr(n, "pads")
        _set_ints(n, "pads", [p[1], p[0], p[3], p[2]])
        _set_ints(n, "strides", _attr(n, "strides")[::-1])
    return f"{first.name} / {second.name}: Kx1 first"


def _activation(g, rng):
    acts = [n for n in g.node if n.op_type in ("Relu", "HardSwish", "HardSigmoid", "Clip")]
    n = _pick(rng, acts)
    if n is None:
        return None
    if n.op_type == "HardSigmoid":
        _set_float(n, "alpha", rng.choice([0.2, 0.25]))
        _set_float(n, "beta", rng.choice([0.4, 0.5, 0.6]))
        return f"{n.name}: HardSigmoid alpha/beta changed"
    choice = rng.choice(["Relu", "HardSwish", "Clip(0,6)", "Clip(0)", "Clip(-1,1)", "Clip(-inf,0.5)"])
    del n.attribute[:]
    del n.input[1:]
    if choice.startswith("Clip"):
        n.op_type = "Clip"
        bounds = choice[5:-1].split(",")
        for i, b in enumerate(bounds):
            name = f"{n.name}.clip{i}"
            g.initializer.append(numpy_helper.from_array(np.array(float(b), np.float32), name))
            n.input.append(name)
    else:
        n.op_type = choice
    return f"{n.name}: -> {choice}"


def _set_float(n, name, value):
    for a in n.attribute:
        if a.name == name:
            a.f = value
            return
    n.attribute.append(helper.make_attribute(name, value))


def _batchnorm(g, rng):
    n = _pick(rng, [n for n in g.node if n.op_type == "BatchNormalization"])
    if n is None:
        return None
    c = rng.randrange(3)
    if c == 0:
        eps = rng.choice([1e-5, 0.5])
        _set_float(n, "epsilon", eps)
        return f"{n.name}: epsilon {eps}"
    t = _inits(g)[n.input[4 if c == 1 else 3]]
    a = numpy_helper.to_array(t).copy()
    i = rng.randrange(a.size)
    a[i] = 0.0 if c == 1 else 50.0
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    return f"{n.name}: {'var' if c == 1 else 'mean'}[{i}] = {a[i]}"


def _weights(g, rng):
    c = _pick(rng, [n for n, _, _ in _depthwise(g)])
    if c is None:
        return None
    t = _inits(g)[c.input[1]]
    a = numpy_helper.to_array(t).copy()
    ch = rng.randrange(a.shape[0])
    how = rng.choice(["zeroed", "negated", "scaled by 100"])
    a[ch] = 0.0 if how == "zeroed" else -a[ch] if how == "negated" else 100.0 * a[ch]
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    return f"{c.name}: channel {ch} {how}"


def _remove(g, rng):
    n = _pick(rng, [n for n in g.node if n.op_type in ("Relu", "HardSwish", "BatchNormalization")])
    if n is None:
        return None
    src, dst = n.input[0], n.output[0]
    g.node.remove(n)
    for m in g.node:
        for i, v in enumerate(m.input):
            if v == dst:
                m.input[i] = src
    for o in g.output:
        if o.name == dst:
            return None  # the graph output itself: leave the model as it was (caller retries)
    return f"{n.name} ({n.op_type}) removed"


def _swap_operands(g, rng):
    n = _pick(rng, [n for n in g.node if n.op_type in ("Add", "Mul") and len(n.input) == 2])
    if n is None:
        return None
    n.input[0], n.input[1] = n.input[1], n.input[0]
    return f"{n.name}: operands swapped"


VARIATIONS = [_pads_2x2, _pads_asymmetric, _dilated, _depthwise_bias, _line_order, _activation, _batchnorm,
              _weights, _remove, _swap_operands]


def vary(model, seed, count=None):
    """A valid copy of `model` with `count` (default 1-3) seeded variations;
    returns (model, description)."""
    rng = random.Random(seed)
    count = count or rng.randint(1, 3)
    m = onnx.ModelProto()
    m.CopyFrom(model)
    done = []
    for _ in range(50):
        if len(done) == count:
            break
        trial = onnx.ModelProto()
        trial.CopyFrom(m)
        what = rng.choice(VARIATIONS)(trial.graph, rng)
        if what is None:
            continue
        # A variation must keep the model valid, every shape included.
        onnx.checker.check_model(trial)
        onnx.shape_inference.infer_shapes(trial, check_type=True, strict_mode=True)
        m = trial
        done.append(what)
    return m, "; ".join(done)
