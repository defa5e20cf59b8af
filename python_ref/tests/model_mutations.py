"""Seeded structural mutations of an ONNX model, for test_mutated_models.py.

Each mutation edits one thing a broken exporter or a corrupted file could get
wrong: an attribute's value or type, an initializer's dims, type or data, a
node's inputs, outputs or operator, a graph input's or output's shape or type,
the node order, the opset or IR version. Most mutants are invalid; some stay
valid (a different input size, a harmless reorder), and those must run.
"""
import copy
import random

import onnx
from onnx import helper

# Integers that find off-by-one, sign and overflow mistakes.
INTS = [-(1 << 62), -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 31, 33, 1000, 1 << 31, 1 << 40, (1 << 63) - 1]
FLOATS = [float("nan"), float("inf"), -1e30, 0.0, -1.0]
OPS = ["Conv", "Relu", "HardSigmoid", "HardSwish", "Mul", "Add", "GlobalAveragePool", "Gemm", "Flatten",
       "BatchNormalization", "Pad", "Reshape", "Concat", "Split", "MatMul", "Clip", "Sigmoid", "Identity",
       "Transpose"]
TYPES = [0, 2, 6, 7, 10, 11, 16, 99]  # undefined, uint8, int32, int64, float16, double, bfloat16, unknown


def _attribute(g, rng):
    n = rng.choice(g.node)
    if not n.attribute:
        n.attribute.append(helper.make_attribute("axis", rng.choice(INTS)))
        return f"{n.name}: new attribute axis"
    a = rng.choice(n.attribute)
    if a.type == onnx.AttributeProto.INTS and a.ints and rng.random() < 0.8:
        i = rng.randrange(len(a.ints))
        a.ints[i] = rng.choice(INTS)
        return f"{n.name}.{a.name}[{i}] = {a.ints[i]}"
    if a.type == onnx.AttributeProto.INTS:
        a.ints.append(rng.choice(INTS))
        return f"{n.name}.{a.name}: one more value"
    if a.type == onnx.AttributeProto.INT:
        a.i = rng.choice(INTS)
        return f"{n.name}.{a.name} = {a.i}"
    if a.type == onnx.AttributeProto.FLOAT:
        a.f = rng.choice(FLOATS)
        return f"{n.name}.{a.name} = {a.f}"
    a.type = rng.choice([1, 2, 3, 6, 7])
    return f"{n.name}.{a.name}: type {a.type}"


def _duplicate_attribute(g, rng):
    n = rng.choice(g.node)
    if not n.attribute:
        return None
    a = rng.choice(n.attribute)
    n.attribute.append(copy.deepcopy(a))
    return f"{n.name}.{a.name} twice"


def _initializer_dims(g, rng):
    t = rng.choice(g.initializer)
    c = rng.randrange(3)
    if c == 0 and t.dims:
        i = rng.randrange(len(t.dims))
        t.dims[i] = rng.choice(INTS)
        return f"initializer {t.name}: dims[{i}] = {t.dims[i]}"
    if c == 1:
        t.dims.append(rng.choice([1, 2]))
        return f"initializer {t.name}: one more dim"
    d = list(t.dims)[::-1]
    del t.dims[:]
    t.dims.extend(d)
    return f"initializer {t.name}: dims reversed"


def _initializer_data(g, rng):
    t = rng.choice(g.initializer)
    if rng.random() < 0.5:
        t.data_type = rng.choice(TYPES)
        return f"initializer {t.name}: type {t.data_type}"
    t.raw_data = t.raw_data[: len(t.raw_data) // 2]
    return f"initializer {t.name}: half its data"


def _wiring(g, rng):
    n = rng.choice(g.node)
    names = [t.name for t in g.initializer[:50]] + [o for m in g.node for o in m.output] + ["", "nowhere"]
    c = rng.randrange(4)
    if c == 0 and n.input:
        i = rng.randrange(len(n.input))
        n.input[i] = rng.choice(names)
        return f"{n.name}: input {i} = '{n.input[i]}'"
    if c == 1 and n.input:
        del n.input[-1]
        return f"{n.name}: last input dropped"
    if c == 2:
        n.input.append(rng.choice(names))
        return f"{n.name}: one more input"
    if n.output:
        n.output[0] = rng.choice(names)
        return f"{n.name}: output = '{n.output[0]}'"
    return None


def _operator(g, rng):
    n = rng.choice(g.node)
    old, n.op_type = n.op_type, rng.choice(OPS)
    return f"{n.name}: {old} -> {n.op_type}"


def _io(g, rng):
    vi = rng.choice(list(g.input) + list(g.output))
    tt = vi.type.tensor_type
    c = rng.randrange(5)
    if c <= 1 and tt.shape.dim:
        d = rng.choice(tt.shape.dim)
        if c == 0:
            d.dim_value = rng.choice(INTS + [8, 16, 40])
        else:
            d.dim_param = "symbol"
        return f"{vi.name}: a dim changed"
    if c == 2:
        tt.elem_type = rng.choice(TYPES)
        return f"{vi.name}: element type {tt.elem_type}"
    if c == 3:
        tt.shape.dim.add().dim_value = rng.choice([1, 2])
        return f"{vi.name}: rank + 1"
    if tt.shape.dim:
        del tt.shape.dim[-1]
        return f"{vi.name}: rank - 1"
    return None


def _order(g, rng):
    if rng.random() < 0.5:
        i = rng.randrange(len(g.node))
        name = g.node[i].name
        del g.node[i]
        return f"node {name} removed"
    i, j = rng.randrange(len(g.node)), rng.randrange(len(g.node))
    a, b = copy.deepcopy(g.node[i]), copy.deepcopy(g.node[j])
    g.node[i].CopyFrom(b)
    g.node[j].CopyFrom(a)
    return f"nodes {i} and {j} swapped"


def _versions(m, rng):
    c = rng.randrange(3)
    if c == 0:
        m.opset_import[0].version = rng.choice([1, 6, 7, 9, 11, 12, 14, 17, 21, 99])
        return f"opset {m.opset_import[0].version}"
    if c == 1:
        m.ir_version = rng.choice([0, 1, 3, 4, 8, 10, 99])
        return f"IR version {m.ir_version}"
    m.opset_import[0].domain = "com.example"
    return "opset domain com.example"


_GRAPH_MUTATIONS = [_attribute, _attribute, _duplicate_attribute, _initializer_dims, _initializer_data,
                    _wiring, _wiring, _operator, _io, _io, _order]


def mutate(model, seed):
    """A mutated copy of `model` (1 to 3 mutations drawn from `seed`) and what was done."""
    rng = random.Random(seed)
    m = copy.deepcopy(model)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        if rng.random() < 0.08:
            done.append(_versions(m, rng))
            continue
        what = rng.choice(_GRAPH_MUTATIONS)(m.graph, rng)
        if what:
            done.append(what)
    return m, "; ".join(done) or "unchanged"
