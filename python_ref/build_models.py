# Builds the MobileNetV3-Small ONNX models of shared/SPEC.md section 4 from seeded random
# weights: `python3 -m python_ref.build_models OUT_DIR [--seed S]` (from the repo root)
# writes mbv3s.onnx, mbv3s-xsep.onnx and mbv3s-xsep-k7.onnx. They are the graph runner's
# test and benchmark inputs, so no trained weights (and no torch) are needed: only the
# structure and a numerically sane forward pass matter. The same seed gives the same bytes.
import argparse
import os
import sys
import zlib
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import xsep_ref

OPSET = 17
IR_VERSION = 8  # the IR version that introduced opset 17; pinned so older runtimes load it
BN_EPS = 1e-3  # torchvision's MobileNetV3 BatchNorm epsilon
NUM_CLASSES = 1000
LAST_CHANNEL = 1024
DROPOUT = 0.2
DEFAULT_SEED = 20240521
VARIANTS = ("mbv3s", "mbv3s-xsep", "mbv3s-xsep-k7")


@dataclass(frozen=True)
class BlockCfg:
    """One inverted-residual block; act is an xsep_ref activation name."""
    index: int
    cin: int
    k: int
    exp: int
    cout: int
    se: bool
    act: str
    stride: int


# SPEC 4 table (torchvision's mobilenet_v3_small): index, in, k, exp, out, SE, act, stride.
MBV3S_BLOCKS = [BlockCfg(*row) for row in [
    (1, 16, 3, 16, 16, True, "RELU", 2),
    (2, 16, 3, 72, 24, False, "RELU", 2),
    (3, 24, 3, 88, 24, False, "RELU", 1),
    (4, 24, 5, 96, 40, True, "HARDSWISH", 2),
    (5, 40, 5, 240, 40, True, "HARDSWISH", 1),
    (6, 40, 5, 240, 40, True, "HARDSWISH", 1),
    (7, 40, 5, 120, 48, True, "HARDSWISH", 1),
    (8, 48, 5, 144, 48, True, "HARDSWISH", 1),
    (9, 48, 5, 288, 96, True, "HARDSWISH", 2),
    (10, 96, 5, 576, 96, True, "HARDSWISH", 1),
    (11, 96, 5, 576, 96, True, "HARDSWISH", 1),
]]
STEM_CHANNELS = 16
LAST_CONV_CHANNELS = 576
ONNX_ACT = {"RELU": "Relu", "HARDSWISH": "HardSwish"}


def make_divisible(v, divisor=8, min_value=None):
    """torchvision's _make_divisible: round to a multiple of divisor, never down by >10%."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class DwPlan:
    """How a block's depthwise stage is built: 'kxk' or 'xsep' (with its 2x2 direction)."""
    kind: str
    k: int
    direction: str = None


def depthwise_plan(variant):
    """One DwPlan per block (SPEC 4 variants). The XSepConv directions come from the
    network-wide padding schedule (SPEC 3) over the 2x2 layers in execution order."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    kinds = []
    for b in MBV3S_BLOCKS:
        if variant == "mbv3s" or b.k == 3:
            kinds.append(("kxk", b.k))
        elif variant == "mbv3s-xsep":
            kinds.append(("xsep", 5) if b.stride == 1 else ("kxk", 5))
        else:  # mbv3s-xsep-k7: every 5x5 becomes K=7 XSepConv, strided ones down-sampling
            kinds.append(("xsep", 7))
    schedule = iter(xsep_ref.padding_schedule(sum(kind == "xsep" for kind, _ in kinds)))
    return [DwPlan(kind, k, next(schedule) if kind == "xsep" else None) for kind, k in kinds]


class _Builder:
    """Collects nodes and initializers. Every parameter tensor draws from its own generator
    seeded by (seed, tensor name), so layers the variants share get identical weights and
    the draw order never matters. A node's output tensor has the node's name."""

    def __init__(self, seed):
        self.seed, self.nodes, self.inits = seed, [], []

    def rng(self, name):
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def node(self, op, name, inputs, output=None, **attrs):
        out = output or name
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    # ---- random parameters
    def weight(self, name, shape, gain):
        """He-style normal init, std = sqrt(gain / fan_in): gain 2 before a rectifier-like
        activation, 1 before a linear output, so activations keep their scale."""
        fan_in = int(np.prod(shape[1:]))
        w = self.rng(name).standard_normal(shape) * np.sqrt(gain / fan_in)
        return w.astype(np.float32)

    def bias(self, name, n, spread):
        return self.rng(name).uniform(-spread, spread, n).astype(np.float32)

    def bn(self, name, c):
        """Non-trivial inference BatchNorm statistics (variance positive)."""
        r = self.rng(name)
        return {"gamma": r.uniform(0.5, 1.5, c).astype(np.float32),
                "beta": r.uniform(-0.2, 0.2, c).astype(np.float32),
                "mean": r.uniform(-0.2, 0.2, c).astype(np.float32),
                "var": r.uniform(0.5, 1.5, c).astype(np.float32)}

    # ---- graph pieces
    def batchnorm(self, name, x, p):
        ins = [x] + [self.init(f"{name}.{k}", p[k]) for k in ("gamma", "beta", "mean", "var")]
        return self.node("BatchNormalization", name, ins, epsilon=BN_EPS)

    def act(self, name, x, act):
        return x if act is None else self.node(ONNX_ACT[act], name, [x])

    def conv_bn(self, name, x, shape, group, pads, strides, act):
        """Conv (no bias) `name` -> BatchNormalization `name.bn` -> activation `name.act`.
        shape is the weight's [Cout, Cin/group, kh, kw]; pads are [top, left, bottom, right]."""
        w = self.weight(f"{name}.weight", shape, 1.0 if act is None else 2.0)
        bn = self.bn(f"{name}.bn", shape[0])
        y = self.node("Conv", name, [x, self.init(f"{name}.weight", w)], group=group,
                      kernel_shape=list(shape[2:]), pads=list(pads), strides=list(strides))
        y = self.act(f"{name}.act", self.batchnorm(f"{name}.bn", y, bn), act)
        return y, {"weight": w, "bn": bn}

    def dw2x2_bn(self, name, x, c, direction, act):
        """2x2 depthwise (stride 1, SPEC 2.1) + BN + act. SYMMETRIC is Split -> one Conv per
        non-empty array_split group (`name.g0`..) -> Concat `name`, then one BN over all C."""
        w = self.weight(f"{name}.weight", (c, 1, 2, 2), 2.0)
        bn = self.bn(f"{name}.bn", c)
        if direction != "SYMMETRIC":
            y = self.node("Conv", name, [x, self.init(f"{name}.weight", w)], group=c,
                          kernel_shape=[2, 2], pads=list(xsep_ref.PADS_2X2[direction]),
                          strides=[1, 1])
        else:
            groups = [(i, idx, d) for i, (idx, d) in enumerate(
                zip(xsep_ref.symmetric_groups(c), xsep_ref.SYMMETRIC_ORDER)) if len(idx)]
            sizes = self.init(f"{name}.split_sizes",
                              np.array([len(idx) for _, idx, _ in groups], dtype=np.int64))
            parts = [f"{name}.split{i}" for i, _, _ in groups]
            self.nodes.append(helper.make_node("Split", [x, sizes], parts,
                                               name=f"{name}.split", axis=1))
            outs = [self.node("Conv", f"{name}.g{i}",
                              [p, self.init(f"{name}.g{i}.weight", w[idx])], group=len(idx),
                              kernel_shape=[2, 2], pads=list(xsep_ref.PADS_2X2[d]),
                              strides=[1, 1])
                    for p, (i, idx, d) in zip(parts, groups)]
            y = self.node("Concat", name, outs, axis=1)
        y = self.act(f"{name}.act", self.batchnorm(f"{name}.bn", y, bn), act)
        return y, {"weight": w, "bn": bn}

    def se(self, name, x, c):
        """Squeeze-excitation: pool -> 1x1 conv+bias -> Relu -> 1x1 conv+bias -> HardSigmoid
        -> Mul. torchvision uses make_divisible(exp // 4, 8) squeeze channels."""
        sq = make_divisible(c // 4, 8)
        p = {"fc1": {"weight": self.weight(f"{name}.fc1.weight", (sq, c, 1, 1), 2.0),
                     "bias": self.bias(f"{name}.fc1.bias", sq, 0.1)},
             "fc2": {"weight": self.weight(f"{name}.fc2.weight", (c, sq, 1, 1), 1.0),
                     "bias": self.bias(f"{name}.fc2.bias", c, 0.1)}}
        s = self.node("GlobalAveragePool", f"{name}.pool", [x])
        for fc, act in (("fc1", "Relu"), ("fc2", None)):
            s = self.node("Conv", f"{name}.{fc}",
                          [s, self.init(f"{name}.{fc}.weight", p[fc]["weight"]),
                           self.init(f"{name}.{fc}.bias", p[fc]["bias"])], kernel_shape=[1, 1])
            if act:
                s = self.node(act, f"{name}.relu", [s])
        # hardsigmoid(v) = min(max(v/6 + 1/2, 0), 1), torch's Hardsigmoid.
        s = self.node("HardSigmoid", f"{name}.hsig", [s], alpha=1.0 / 6.0, beta=0.5)
        return self.node("Mul", f"{name}.mul", [x, s]), p

    def gemm(self, name, x, n_in, n_out, gain, output=None):
        """Gemm with transB=1, so B has torch Linear's [out, in] layout."""
        p = {"weight": self.weight(f"{name}.weight", (n_out, n_in), gain),
             "bias": self.bias(f"{name}.bias", n_out, 0.1)}
        y = self.node("Gemm", name, [x, self.init(f"{name}.weight", p["weight"]),
                                     self.init(f"{name}.bias", p["bias"])],
                      output=output, transB=1)
        return y, p


def build_mbv3s(variant="mbv3s", seed=DEFAULT_SEED, plan=None):
    """Returns (onnx.ModelProto, weights). plan: the blocks' DwPlans (tests build other
    mixes of K x K and XSepConv stages with it), default depthwise_plan(variant). weights mirrors torchvision's module tree:
    {"stem", "blocks": [11 dicts], "last", "fc1", "fc2"}; a conv entry is
    {"weight": [Cout, Cin/g, kh, kw], "bn": {"gamma", "beta", "mean", "var"}}; a block is
    {"cfg": BlockCfg (k as built), "expand": conv|None, "dw": conv|None (KxK),
     "xsep": {"k", "stride", "direction", "dw2x2", "dw1xk", "dwkx1"}|None,
     "se": {"fc1": {"weight", "bias"}, "fc2": {...}}|None, "project": conv}."""
    b = _Builder(seed)
    weights = {"variant": variant, "seed": seed, "bn_eps": BN_EPS, "blocks": []}
    x, weights["stem"] = b.conv_bn("stem", "input", (STEM_CHANNELS, 3, 3, 3), 1,
                                   [1, 1, 1, 1], [2, 2], "HARDSWISH")
    plans = depthwise_plan(variant) if plan is None else plan
    if len(plans) != len(MBV3S_BLOCKS):
        raise ValueError(f"plan has {len(plans)} entries; expected one per block ({len(MBV3S_BLOCKS)})")
    for cfg, plan in zip(MBV3S_BLOCKS, plans):
        p, k, s, c, act = f"block{cfg.index}", plan.k, cfg.stride, cfg.exp, cfg.act
        blk = {"cfg": BlockCfg(cfg.index, cfg.cin, k, cfg.exp, cfg.cout, cfg.se, act, s),
               "expand": None, "dw": None, "xsep": None, "se": None}
        y = x
        if cfg.exp != cfg.cin:
            y, blk["expand"] = b.conv_bn(f"{p}.expand", y, (c, cfg.cin, 1, 1), 1,
                                         [0] * 4, [1, 1], act)
        if plan.kind == "kxk":
            y, blk["dw"] = b.conv_bn(f"{p}.dw", y, (c, 1, k, k), c, [k // 2] * 4, [s, s], act)
        else:
            # XSepConv (SPEC 2.5): 2x2 at stride 1, 1xK strides W, Kx1 strides H.
            xs = {"k": k, "stride": s, "direction": plan.direction}
            y, xs["dw2x2"] = b.dw2x2_bn(f"{p}.dw2x2", y, c, plan.direction, act)
            y, xs["dw1xk"] = b.conv_bn(f"{p}.dw1xk", y, (c, 1, 1, k), c,
                                       [0, k // 2, 0, k // 2], [1, s], act)
            y, xs["dwkx1"] = b.conv_bn(f"{p}.dwkx1", y, (c, 1, k, 1), c,
                                       [k // 2, 0, k // 2, 0], [s, 1], act)
            blk["xsep"] = xs
        if cfg.se:
            y, blk["se"] = b.se(f"{p}.se", y, c)
        y, blk["project"] = b.conv_bn(f"{p}.project", y, (cfg.cout, c, 1, 1), 1,
                                      [0] * 4, [1, 1], None)
        if s == 1 and cfg.cin == cfg.cout:
            y = b.node("Add", f"{p}.add", [x, y])
        weights["blocks"].append(blk)
        x = y
    x, weights["last"] = b.conv_bn("last", x, (LAST_CONV_CHANNELS, MBV3S_BLOCKS[-1].cout, 1, 1),
                                   1, [0] * 4, [1, 1], "HARDSWISH")
    x = b.node("GlobalAveragePool", "pool", [x])
    x = b.node("Flatten", "flatten", [x], axis=1)
    x, weights["fc1"] = b.gemm("fc1", x, LAST_CONV_CHANNELS, LAST_CHANNEL, 2.0)
    x = b.node("HardSwish", "fc1.act", [x])
    # Dropout is the identity at inference; kept (opset 12+: ratio is an input) so graph
    # runners must handle it.
    x = b.node("Dropout", "dropout", [x, b.init("dropout.ratio", np.array(DROPOUT, np.float32))])
    _, weights["fc2"] = b.gemm("fc2", x, LAST_CHANNEL, NUM_CLASSES, 1.0, output="logits")

    graph = helper.make_graph(
        b.nodes, variant.replace("-", "_"),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        initializer=b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="xsep.python_ref.build_models",
                              doc_string=f"{variant}: MobileNetV3-Small (SPEC 4), random "
                                         f"weights, seed {seed}")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)  # full_check: strict shape inference too
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model)
    return model, weights


# ---------------------------------------------------------------- graph statistics

def _shapes(model):
    """Tensor name -> shape with every symbolic dim (the batch) taken as 1."""
    out = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        out[vi.name] = [d.dim_value if d.HasField("dim_value") else 1
                        for d in vi.type.tensor_type.shape.dim]
    for t in model.graph.initializer:
        out[t.name] = list(t.dims)
    return out


# Initializer inputs that are not learnable parameters (torch counts them as buffers or
# not at all): BN running statistics, Dropout's ratio, Split's sizes.
_NON_PARAM_INPUTS = {"BatchNormalization": {3, 4}, "Dropout": {1}, "Split": {1}}


def count_params(model):
    """Learnable parameters, counted like torch's sum(p.numel() for p in parameters())."""
    inits = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    return sum(inits[name] for n in model.graph.node for i, name in enumerate(n.input)
               if name in inits and i not in _NON_PARAM_INPUTS.get(n.op_type, ()))


def count_macs(model):
    """Multiply-accumulates of the Conv and Gemm nodes at batch 1 (BN, activations, SE's
    Mul and pooling are not counted, as in torchvision's published figures)."""
    shapes, macs = _shapes(model), 0
    for n in model.graph.node:
        if n.op_type == "Conv":  # per output element: (Cin/group) * kh * kw
            macs += int(np.prod(shapes[n.output[0]])) * int(np.prod(shapes[n.input[1]][1:]))
        elif n.op_type == "Gemm":
            m, k = shapes[n.input[0]]
            macs += m * k * shapes[n.input[1]][0]
    return macs


def build_all(out_dir, seed=DEFAULT_SEED):
    """Writes the three models; returns {variant: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for variant in VARIANTS:
        model, _ = build_mbv3s(variant, seed)
        paths[variant] = os.path.join(out_dir, f"{variant}.onnx")
        with open(paths[variant], "wb") as f:
            f.write(model.SerializeToString())
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__ or "Build the MobileNetV3-Small models.")
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args(argv)
    for variant, path in build_all(args.out_dir, args.seed).items():
        model = onnx.load(path)
        print(f"{path}: {os.path.getsize(path)} bytes, {count_params(model)} params, "
              f"{count_macs(model)} MACs at batch 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
