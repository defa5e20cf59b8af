# Tests of python_ref.build_models (the MobileNetV3-Small ONNX models of SPEC 4): the models
# pass the checker, run in onnxruntime at batch 1 and 2, have the structure the graph runner
# pattern-matches (XSepConv chains and their padding schedule), are byte-for-byte
# reproducible, and compute what SPEC 2-4 say: checked against a float64 numpy forward pass
# written from the weights dict (with xsep_ref for the depthwise stages) and, when torch is
# installed, against torchvision's own mobilenet_v3_small carrying the same weights.
import numpy as np
import onnx
import onnx.utils
import pytest

from python_ref import build_models as B
from python_ref import xsep_ref as R

ort = pytest.importorskip("onnxruntime")

SEED = B.DEFAULT_SEED
XSEP_BLOCKS = {"mbv3s": [], "mbv3s-xsep": [5, 6, 7, 8, 10, 11],
               "mbv3s-xsep-k7": [4, 5, 6, 7, 8, 9, 10, 11]}
EXPECTED_DIRECTIONS = {
    "mbv3s": [],
    "mbv3s-xsep": ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT", "BOTTOM_RIGHT",
                   "TOP_LEFT"],
    "mbv3s-xsep-k7": ["BOTTOM_RIGHT", "TOP_LEFT", "BOTTOM_LEFT", "TOP_RIGHT"] * 2,
}
ONNX_PADS_TO_DIRECTION = {(1, 1, 0, 0): "TOP_LEFT", (1, 0, 0, 1): "TOP_RIGHT",
                          (0, 1, 1, 0): "BOTTOM_LEFT", (0, 0, 1, 1): "BOTTOM_RIGHT"}


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The three models written by build_all (the CLI's path) and read back, with the
    weights dicts of the same build."""
    out = tmp_path_factory.mktemp("models")
    paths = B.build_all(str(out), SEED)
    return {v: {"path": p, "model": onnx.load(p), "weights": B.build_mbv3s(v, SEED)[1]}
            for v, p in paths.items()}


@pytest.fixture(scope="module")
def sessions(built):
    return {v: ort.InferenceSession(d["path"], providers=["CPUExecutionProvider"])
            for v, d in built.items()}


def image(batch, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, 3, 224, 224)).astype(np.float32)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv_kind(node, inits):
    """'kxk', '2x2', '1xk', 'kx1' for depthwise Convs (group == Cout), else None."""
    a = attrs(node)
    cout = inits[node.input[1]].dims[0]
    if a.get("group", 1) != cout:
        return None
    kh, kw = a["kernel_shape"]
    return {(2, 2): "2x2"}.get((kh, kw)) or ("1xk" if kh == 1 else "kx1" if kw == 1 else "kxk")


def assert_close(got, ref, rel):
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref).max()
    assert err <= rel * np.abs(ref).max(), (err, np.abs(ref).max())


# ---------------------------------------------------------------- validity and interface

@pytest.mark.parametrize("variant", B.VARIANTS)
def test_checker_and_interface(built, variant):
    m = built[variant]["model"]
    onnx.checker.check_model(m, full_check=True)
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
    (inp,), (out,) = m.graph.input, m.graph.output
    dims = lambda vi: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
    assert (inp.name, dims(inp)) == ("input", ["N", 3, 224, 224])
    assert (out.name, dims(out)) == ("logits", ["N", 1000])
    names = [n.name for n in m.graph.node]
    assert all(names) and len(set(names)) == len(names), "every node has a unique name"


@pytest.mark.parametrize("variant", B.VARIANTS)
def test_runs_batch_1_and_2(sessions, variant):
    s = sessions[variant]
    x2 = image(2)
    y2 = s.run(None, {"input": x2})[0]
    y1 = s.run(None, {"input": x2[:1]})[0]
    assert y1.shape == (1, 1000) and y2.shape == (2, 1000)
    assert np.isfinite(y2).all() and np.isfinite(y1).all()
    assert_close(y2[:1], y1.astype(np.float64), 1e-5)  # batch items are independent
    # Weight scaling keeps the logits sane; they vary over classes and with the input.
    assert 0.1 < y1.std() < 100, y1.std()
    assert np.abs(y2[0] - y2[1]).max() > 1e-3 * y1.std()


# ---------------------------------------------------------------- structure

@pytest.mark.parametrize("variant", B.VARIANTS)
def test_node_counts(built, variant):
    m = built[variant]["model"]
    inits = {t.name: t for t in m.graph.initializer}
    ops = [n.op_type for n in m.graph.node]
    kinds = [conv_kind(n, inits) for n in m.graph.node if n.op_type == "Conv"]
    n_xsep = len(XSEP_BLOCKS[variant])
    assert kinds.count("kxk") == 11 - n_xsep
    assert kinds.count("2x2") == kinds.count("1xk") == kinds.count("kx1") == n_xsep
    # 9 SE blocks (all but 2 and 3): their pool + final pool; two 1x1 convs with bias each.
    assert ops.count("GlobalAveragePool") == 10
    assert ops.count("HardSigmoid") == ops.count("Mul") == 9
    assert ops.count("Add") == 6  # residuals: blocks 3, 5, 6, 8, 10, 11
    assert ops.count("Gemm") == 2 and ops.count("Dropout") == 1 and ops.count("Flatten") == 1
    # Conv + BN everywhere except the SE convs (which carry a bias instead).
    n_conv = ops.count("Conv")
    assert ops.count("BatchNormalization") == n_conv - 2 * 9
    # Expand convs in 10 blocks (not block 1), dw, project, stem, last, SE.
    assert n_conv == 1 + 10 + (11 + 2 * n_xsep) + 11 + 1 + 2 * 9
    assert ops.count("Split") == ops.count("Concat") == 0  # N even: no SYMMETRIC layer
    assert ops.count("Relu") == 5 + 9  # blocks 1-3 (block 1 has no expand) + SE
    hs = 1 + 1 + 1 + sum(2 + (2 if b in XSEP_BLOCKS[variant] else 0) for b in range(4, 12))
    assert ops.count("HardSwish") == hs  # stem, last, fc1 + expand/dw(/2x2/1xk) in 4-11


def xsep_chains(model):
    """Finds every 2x2 Conv -> BN -> act -> 1xK Conv -> BN -> act -> Kx1 Conv -> BN -> act by
    walking consumers, as a graph runner would; returns (block name, direction, K, stride)."""
    inits = {t.name: t for t in model.graph.initializer}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def only_consumer(node, op):
        (c,) = consumers[node.output[0]]
        assert c.op_type == op, (node.name, c.op_type)
        return c

    chains = []
    for n in model.graph.node:
        if n.op_type != "Conv" or conv_kind(n, inits) != "2x2":
            continue
        direction = ONNX_PADS_TO_DIRECTION[tuple(attrs(n)["pads"])]
        assert attrs(n).get("strides", [1, 1]) == [1, 1]
        passes, node = [], n
        for kind in ("1xk", "kx1"):
            act = only_consumer(only_consumer(node, "BatchNormalization"), "HardSwish")
            node = consumers[act.output[0]][0]
            assert node.op_type == "Conv" and conv_kind(node, inits) == kind, node.name
            passes.append(attrs(node))
        only_consumer(only_consumer(node, "BatchNormalization"), "HardSwish")
        (k1, s1), (k2, s2) = [(a["kernel_shape"], a["strides"]) for a in passes]
        k, s = k1[1], s1[1]
        assert k1 == [1, k] and k2 == [k, 1] and s1 == [1, s] and s2 == [s, 1]
        assert passes[0]["pads"] == [0, k // 2, 0, k // 2]
        assert passes[1]["pads"] == [k // 2, 0, k // 2, 0]
        chains.append((n.name.split(".")[0], direction, k, s))
    return chains


@pytest.mark.parametrize("variant", B.VARIANTS)
def test_xsep_chains_and_schedule(built, variant):
    chains = xsep_chains(built[variant]["model"])
    assert [c[0] for c in chains] == [f"block{i}" for i in XSEP_BLOCKS[variant]]
    assert [c[1] for c in chains] == EXPECTED_DIRECTIONS[variant]
    assert [c[1] for c in chains] == R.padding_schedule(len(chains))
    k = 7 if variant.endswith("k7") else 5
    strided = {c[0] for c in chains if c[3] == 2}
    assert all(c[2] == k for c in chains)
    assert strided == ({"block4", "block9"} if variant.endswith("k7") else set())
    # Blocks that keep a KxK depthwise: 3x3 ones, and (xsep) the strided 5x5 ones.
    m = built[variant]["model"]
    kept = {n.name: attrs(n)["kernel_shape"] for n in m.graph.node if n.name.endswith(".dw")}
    assert all(ks == ([3, 3] if int(nm[5:-3]) <= 3 else [5, 5]) for nm, ks in kept.items())


def test_deterministic(built):
    for v in B.VARIANTS:
        again = B.build_mbv3s(v, SEED)[0].SerializeToString()
        with open(built[v]["path"], "rb") as f:
            assert f.read() == again, v
    assert B.build_mbv3s("mbv3s", SEED + 1)[0].SerializeToString() != \
        built["mbv3s"]["model"].SerializeToString()


def test_param_and_mac_counts(built):
    # torchvision's published mobilenet_v3_small: 2,542,856 parameters, 0.06 GMACs.
    assert B.count_params(built["mbv3s"]["model"]) == 2_542_856
    assert 56e6 < B.count_macs(built["mbv3s"]["model"]) < 57e6
    # XSepConv is cheaper than the 5x5 it replaces.
    assert B.count_macs(built["mbv3s-xsep"]["model"]) < B.count_macs(built["mbv3s"]["model"])


# ---------------------------------------------------------------- semantics

def fold(bn, eps=B.BN_EPS):
    """Inference BN as an epilogue scale and bias (SPEC 2.4), in float64."""
    scale = bn["gamma"].astype(np.float64) / np.sqrt(bn["var"].astype(np.float64) + eps)
    return scale, bn["beta"] - bn["mean"] * scale


def xsep_block_ref(x, xs, act):
    """One XSepConv chain from its weights, with xsep_ref and BN folded into epilogues."""
    eps = [(*fold(xs[p]["bn"]), act) for p in ("dw2x2", "dw1xk", "dwkx1")]
    return R.xsepconv(x, xs["dw2x2"]["weight"], xs["dw1xk"]["weight"],
                      xs["dwkx1"]["weight"], xs["k"], xs["stride"], xs["direction"], *eps)


@pytest.mark.parametrize("variant,block,shape", [("mbv3s-xsep", 5, (2, 240, 14, 14)),
                                                 ("mbv3s-xsep-k7", 9, (1, 288, 14, 14))])
def test_one_xsep_chain_vs_xsep_ref(built, variant, block, shape):
    """The chain cut out of the model (onnx.utils.Extractor) vs xsep_ref on a random tensor."""
    m, w = built[variant]["model"], built[variant]["weights"]
    sub = onnx.utils.Extractor(m).extract_model([f"block{block}.expand.act"],
                                                [f"block{block}.dwkx1.act"])
    x = np.random.default_rng(block).uniform(-3, 3, shape).astype(np.float32)
    s = ort.InferenceSession(sub.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(None, {f"block{block}.expand.act": x})[0]
    assert_close(got, xsep_block_ref(x, w["blocks"][block - 1]["xsep"], "HARDSWISH"), 1e-5)


def test_symmetric_2x2_path():
    """No variant has odd N, but the SYMMETRIC graph (Split -> Convs -> Concat) must match
    xsep_ref for C = 4q+m and C < 4 (empty groups skipped)."""
    for c in (6, 3, 1):
        b = B._Builder(SEED)
        y, p = b.dw2x2_bn("t", "x", c, "SYMMETRIC", "RELU")
        g = onnx.helper.make_graph(
            b.nodes, "t", [onnx.helper.make_tensor_value_info("x", 1, [1, c, 5, 4])],
            [onnx.helper.make_tensor_value_info(y, 1, [1, c, 5, 4])], initializer=b.inits)
        m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])
        m.ir_version = B.IR_VERSION
        onnx.checker.check_model(m, full_check=True)
        x = np.random.default_rng(c).uniform(-1, 1, (1, c, 5, 4)).astype(np.float32)
        got = ort.InferenceSession(m.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        ref = R.epilogue(R.dwconv2x2(x, p["weight"], "SYMMETRIC"), *fold(p["bn"]), "RELU")
        assert_close(got, ref, 1e-5)


def numpy_forward(w, x):
    """float64 MobileNetV3-Small from the weights dict, following torchvision's module order;
    depthwise stages through xsep_ref with BN folded, other BNs written out directly."""
    x = np.asarray(x, np.float64)
    hsig = lambda v: np.clip(v / 6 + 0.5, 0, 1)

    def bn(v, p):
        sh = lambda a: np.asarray(a, np.float64)[None, :, None, None]
        inv_std = 1 / np.sqrt(sh(p["var"]) + B.BN_EPS)
        return (v - sh(p["mean"])) * inv_std * sh(p["gamma"]) + sh(p["beta"])

    def pointwise(v, p, act):  # 1x1 conv + BN + act
        return R.apply_act(bn(np.einsum("oc,nchw->nohw", p["weight"][:, :, 0, 0], v), p["bn"]), act)

    # Stem: dense 3x3 stride 2 pad 1, one slice per tap.
    wt = w["stem"]["weight"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = R.out_size(x.shape[2], 2), R.out_size(x.shape[3], 2)
    y = sum(np.einsum("oc,nchw->nohw", wt[:, :, i, j],
                      xp[:, :, i:i + 2 * ho - 1:2, j:j + 2 * wo - 1:2])
            for i in range(3) for j in range(3))
    x = R.apply_act(bn(y, w["stem"]["bn"]), "HARDSWISH")
    for blk in w["blocks"]:
        cfg, y = blk["cfg"], x
        if blk["expand"] is not None:
            y = pointwise(y, blk["expand"], cfg.act)
        if blk["dw"] is not None:
            y = R.epilogue(R.dwconvkxk(y, blk["dw"]["weight"][:, 0], cfg.stride),
                           *fold(blk["dw"]["bn"]), cfg.act)
        else:
            y = xsep_block_ref(y, blk["xsep"], cfg.act)
        if blk["se"] is not None:
            se = blk["se"]
            s = y.mean(axis=(2, 3))
            s = np.maximum(s @ se["fc1"]["weight"][:, :, 0, 0].T + se["fc1"]["bias"], 0)
            s = hsig(s @ se["fc2"]["weight"][:, :, 0, 0].T + se["fc2"]["bias"])
            y = y * s[:, :, None, None]
        y = pointwise(y, blk["project"], "NONE")
        x = x + y if cfg.stride == 1 and cfg.cin == cfg.cout else y
    x = pointwise(x, w["last"], "HARDSWISH").mean(axis=(2, 3))
    x = R.apply_act(x @ w["fc1"]["weight"].T + w["fc1"]["bias"], "HARDSWISH")
    return x @ w["fc2"]["weight"].T + w["fc2"]["bias"]  # dropout: identity


@pytest.mark.parametrize("variant", B.VARIANTS)
def test_numpy_forward_matches_onnxruntime(built, sessions, variant):
    x = image(1, seed=7)
    got = sessions[variant].run(None, {"input": x})[0]
    assert_close(got, numpy_forward(built[variant]["weights"], x), 1e-4)


# ---------------------------------------------------------------- torchvision (optional)

def load_into_torchvision(net, w, torch):
    """Copies the builder's weights into torchvision's mobilenet_v3_small by structure:
    features[0] stem, features[1..11] the blocks, features[12] last conv, classifier[0]
    and [3] the Linears. Conv+BN modules are Sequential(Conv2d, BatchNorm2d[, act])."""
    def put(tensor, value):
        assert tuple(tensor.shape) == value.shape, (tuple(tensor.shape), value.shape)
        with torch.no_grad():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    def put_conv_bn(seq, p):
        conv, norm = seq[0], seq[1]
        assert isinstance(conv, torch.nn.Conv2d) and conv.bias is None
        assert isinstance(norm, torch.nn.BatchNorm2d) and norm.eps == B.BN_EPS
        put(conv.weight, p["weight"])
        for attr, key in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "mean"),
                          ("running_var", "var")):
            put(getattr(norm, attr), p["bn"][key])

    assert len(net.features) == 13
    put_conv_bn(net.features[0], w["stem"])
    for i, blk in enumerate(w["blocks"], start=1):
        layers = list(net.features[i].block)
        if blk["expand"] is not None:
            put_conv_bn(layers.pop(0), blk["expand"])
        put_conv_bn(layers.pop(0), blk["dw"])
        if blk["se"] is not None:
            se = layers.pop(0)
            for fc in ("fc1", "fc2"):
                put(getattr(se, fc).weight, blk["se"][fc]["weight"])
                put(getattr(se, fc).bias, blk["se"][fc]["bias"])
        put_conv_bn(layers.pop(0), blk["project"])
        assert not layers, f"block {i}: unmapped modules {layers}"
    put_conv_bn(net.features[12], w["last"])
    for idx, key in ((0, "fc1"), (3, "fc2")):
        put(net.classifier[idx].weight, w[key]["weight"])
        put(net.classifier[idx].bias, w[key]["bias"])


def test_mbv3s_matches_torchvision(built, sessions):
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.mobilenet_v3_small(num_classes=1000).eval()
    load_into_torchvision(net, built["mbv3s"]["weights"], torch)
    assert sum(p.numel() for p in net.parameters()) == B.count_params(built["mbv3s"]["model"])
    x = image(2, seed=3)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).double().numpy()
    got = sessions["mbv3s"].run(None, {"input": x})[0]
    assert_close(got, ref, 1e-4)
