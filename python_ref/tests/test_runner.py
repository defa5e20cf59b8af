"""xsep-run (the graph runner's CLI) against onnxruntime on the three networks.

Runs only when XSEP_RUN names an xsep-run binary (CTest sets it; see
tests/graph/CMakeLists.txt). XSEP_RUN_BACKENDS lists the backends to check
(default "reference"; "cuda" runs the CUDA backend, which is the emulated device
in an XSEP_DEVICE=emu build). Largest differences are printed for the record.
"""
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from python_ref import build_models, xsep_ref
from python_ref.tests.runner_support import (BACKENDS, XSEP_RUN, compare_with_onnxruntime, needs_xsep_run,
                                             onnxruntime_output, xsep_run)
MODELS = ["mbv3s", "mbv3s-xsep", "mbv3s-xsep-k7"]

pytestmark = needs_xsep_run


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    build_models.build_all(str(d))
    return d


def run_xsep(model, x, tmp_path, backend, extra=(), env=None):
    proc, y = xsep_run(model, backend, tmp_path, x, extra, env)
    assert proc.returncode == 0, proc.stderr
    return y, proc.stdout


def check(model_dir, tmp_path, name, backend, extra=(), batch=1, bound=1e-4, env=None):
    model = model_dir / f"{name}.onnx"
    x = np.random.default_rng(7).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got, stdout = run_xsep(model, x, tmp_path, backend, extra, env)
    assert got.shape == expected.shape
    diff = np.abs(got.astype(np.float64) - expected).max()
    scale = np.abs(expected).max()
    print(f"\n{name} [{backend} {' '.join(extra)} batch {batch}{' ' + str(env) if env else ''}]: "
          f"max|diff| = {diff:.3e}, "
          f"max|logit| = {scale:.3e}, ratio {diff / scale:.2e}")
    assert diff <= bound * scale, stdout
    assert "top-5 of item 0" in stdout


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODELS)
def test_matches_onnxruntime(model_dir, tmp_path, name, backend):
    check(model_dir, tmp_path, name, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_count_of_2x2_layers_ends_symmetric(tmp_path, backend):
    # SPEC 3: with an odd number N of 2x2 layers the last one is SYMMETRIC, which the
    # model spells Split -> four directional 2x2 convs -> Concat, and the cuda backend
    # must recognise as one XSepConv chain. The three networks have N = 6 and 8, so this
    # builds N = 7: mbv3s-xsep-k7 with block 9 kept as its 5x5 K x K.
    kinds = [("kxk", 5) if b.index == 9 else ("kxk", b.k) if b.k == 3 else ("xsep", 7)
             for b in build_models.MBV3S_BLOCKS]
    n_2x2 = sum(kind == "xsep" for kind, _ in kinds)
    assert n_2x2 == 7
    schedule = iter(xsep_ref.padding_schedule(n_2x2))
    plan = [build_models.DwPlan(kind, k, next(schedule) if kind == "xsep" else None) for kind, k in kinds]
    assert plan[-1].direction == "SYMMETRIC"
    model, _ = build_models.build_mbv3s("mbv3s-xsep-k7", plan=plan)
    assert [n.op_type for n in model.graph.node].count("Split") == 1
    path = tmp_path / "mbv3s-xsep-k7-odd.onnx"
    onnx.save(model, str(path))
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)
    got, stdout = run_xsep(path, x, tmp_path, backend)
    compare_with_onnxruntime(path, x, got, f"N = 7 [{backend}]")
    if backend == "cuda":  # the SYMMETRIC chain fused into one xsep_xsepconv launch
        assert any("block11" in line and "xsepconv" in line.lower() and "SYM" in line
                   for line in stdout.splitlines()), stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_identity_of_initializers(tmp_path, backend):
    # PyTorch's exporter writes Identity nodes from one initializer to another where two
    # parameters hold equal values (torchvision's network at its initial weights does);
    # here they feed a depthwise conv's weights and bias and an Add's operand.
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    nodes = [helper.make_node("Identity", ["w0"], ["w1"], name="id_w"),
             helper.make_node("Identity", ["b0"], ["b1"], name="id_b"),
             helper.make_node("Identity", ["b1"], ["b2"], name="id_b2"),  # an Identity of a folded one
             helper.make_node("Conv", ["input", "w1", "b1"], ["c"], name="dw", group=4, pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["b2", "shape"], ["b4"], name="rs"),
             helper.make_node("Add", ["c", "b4"], ["output"], name="add")]
    graph = helper.make_graph(
        nodes, "identity_of_initializers",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(w, "w0"), numpy_helper.from_array(b, "b0"),
         numpy_helper.from_array(np.array([1, 4, 1, 1], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    path = tmp_path / "identity.onnx"
    onnx.save(model, str(path))
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    got, _ = run_xsep(path, x, tmp_path, backend)
    compare_with_onnxruntime(path, x, got, f"Identity of initializers [{backend}]", bound=1e-5)


# Conv geometries where a backend could pick the wrong padding or operator and both
# backends agree with each other: auto_pad SAME_UPPER vs SAME_LOWER with an odd total
# padding (a 2x2 depthwise, which the cuda backend maps to a padded direction, and a
# strided 3x3 on an even image), and a depthwise 3x3 with unequal strides, which must not
# become the C API's K x K operator (one stride for both axes). onnxruntime is the oracle.
CONV_GEOMETRIES = {
    "dw2x2_same_upper": dict(w=(4, 1, 2, 2), group=4, kernel_shape=[2, 2], auto_pad="SAME_UPPER"),
    "dw2x2_same_lower": dict(w=(4, 1, 2, 2), group=4, kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
    "dw3x3_s2_same_upper": dict(w=(4, 1, 3, 3), group=4, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "dw3x3_s2_same_lower": dict(w=(4, 1, 3, 3), group=4, kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
    "conv3x3_s2_same_lower": dict(w=(4, 4, 3, 3), kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
    "dw3x3_strides_2_1": dict(w=(4, 1, 3, 3), group=4, kernel_shape=[3, 3], strides=[2, 1], pads=[1, 1, 1, 1]),
    "dw3x3_strides_1_2": dict(w=(4, 1, 3, 3), group=4, kernel_shape=[3, 3], strides=[1, 2], pads=[1, 1, 1, 1]),
}


@pytest.mark.parametrize("geometry", sorted(CONV_GEOMETRIES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_geometry(tmp_path, backend, geometry):
    from onnx import TensorProto, helper, numpy_helper
    attrs = dict(CONV_GEOMETRIES[geometry])
    rng = np.random.default_rng(11)
    w = rng.standard_normal(attrs.pop("w")).astype(np.float32)
    node = helper.make_node("Conv", ["input", "w"], ["c"], name="conv", **attrs)
    graph = helper.make_graph(
        [node, helper.make_node("Relu", ["c"], ["output"], name="relu")], geometry,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 6, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", "c", "h", "w"])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    path = tmp_path / f"{geometry}.onnx"
    onnx.save(model, str(path))
    x = rng.standard_normal((1, 4, 6, 8)).astype(np.float32)
    got, _ = run_xsep(path, x, tmp_path, backend)
    compare_with_onnxruntime(path, x, got, f"{geometry} [{backend}]", bound=1e-5)


def export_and_compare(torch, net, x, tmp_path, label, dynamic_batch=False):
    """Exports `net` once with torch.onnx.export (TorchScript, opset 17: what a build with
    Debian's ONNX 1.12 reads), runs the file through onnxruntime and xsep-run on every
    backend of BACKENDS on `x`, and holds the logits to 1e-4 * max|logit|. Returns
    onnxruntime's logits. (One export for all backends: on the GPU machine these run
    inside ctest's runner_vs_onnxruntime, under its time limit.)"""
    path = tmp_path / "torchvision.onnx"
    axes = {"input": {0: "n"}, "logits": {0: "n"}} if dynamic_batch else None
    try:
        with torch.no_grad():
            torch.onnx.export(net, (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
    except Exception as e:  # noqa: BLE001 - an exporter this torch no longer has is not our failure
        pytest.skip(f"torch.onnx.export (TorchScript, opset 17) failed: {type(e).__name__}: {e}")
    xn = x.numpy()
    for backend in BACKENDS:
        got, _ = run_xsep(path, xn, tmp_path, backend)
        assert got.shape == (x.shape[0], 1000)
        compare_with_onnxruntime(path, xn, got, f"torchvision {label} [{backend}]")
    return onnxruntime_output(path, xn)[0]


@pytest.mark.parametrize("weights", ["torchvision-init", "seeded"])
def test_torchvision_export(tmp_path, weights):
    # The README says the runner covers MobileNetV3-Small "as torchvision exports it":
    # torchvision's own mobilenet_v3_small through torch.onnx.export, against
    # onnxruntime on the same file. Needs torch and torchvision: skipped on CI; run on
    # the GPU machine (tools/bench.sh) and wherever torch is installed.
    #   torchvision-init: the network as constructed. Its equal zero biases come out of
    #     the exporter as Identity nodes on initializers (the cuda backend refused them
    #     until the loader folded them); its logits are tiny (~1e-9), hence also
    #   seeded: build_models' weights copied in (logits of order 1).
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(7)
    net = torchvision.models.mobilenet_v3_small(num_classes=1000).eval()
    if weights == "seeded":
        from python_ref.tests.test_build_models import load_into_torchvision
        load_into_torchvision(net, build_models.build_mbv3s("mbv3s")[1], torch)
    export_and_compare(torch, net, torch.randn(1, 3, 224, 224), tmp_path, f"mobilenet_v3_small, {weights}")


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large"])
def test_torchvision_other_depthwise_networks(tmp_path, name):
    # Beyond MobileNetV3-Small: torchvision's other depthwise networks use only the
    # operators the runner has, so they must run and match onnxruntime too (the README
    # says so). BatchNorm's statistics are taken from one random batch (momentum 1), so
    # activations stay of order 1: at the initial statistics the logits are ~1e-10 and a
    # wrong result could hide behind them. A batch of 2 with a dynamic batch axis; 96x96
    # keeps the emulated run short. Needs torch and torchvision.
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(11)
    net = getattr(torchvision.models, name)(num_classes=1000)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        net.train()(torch.randn(8, 3, 96, 96))
    net.eval()
    expected = export_and_compare(torch, net, torch.randn(2, 3, 96, 96), tmp_path, name, dynamic_batch=True)
    assert np.abs(expected).max() > 1e-2  # the calibration worked: logits not vanishing


@pytest.mark.parametrize("backend", BACKENDS)
def test_torchvision_dynamo_export(tmp_path, backend):
    # torch >= 2.9 exports with dynamo by default: IR 10, opset 18, ReduceMean for the
    # pooling. A build against Debian 12's ONNX 1.12 (IR 8, opset 17) cannot read that:
    # it must refuse with one UNSUPPORTED line that says how to export for it, never
    # crash or compute something else. (A build against a newer ONNX may run it.)
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    pytest.importorskip("onnxscript")
    torch.manual_seed(7)
    net = torchvision.models.mobilenet_v3_small(num_classes=1000).eval()
    x = torch.randn(1, 3, 224, 224)
    path = tmp_path / "torchvision-mbv3s-dynamo.onnx"
    try:
        with torch.no_grad():
            torch.onnx.export(net, (x,), str(path), input_names=["input"], output_names=["logits"], dynamo=True)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"torch.onnx.export (dynamo) failed: {type(e).__name__}: {e}")
    xn = x.numpy()
    proc, got = xsep_run(path, backend, tmp_path, xn)
    if proc.returncode == 0:
        compare_with_onnxruntime(path, xn, got, f"torchvision dynamo export [{backend}]")
        return
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "XSEP_STATUS_UNSUPPORTED" in lines[0] and "dynamo=False" in lines[0], lines[0]


# The cuda backend's other activation formats, one network each: NHWC float32
# (same bound), and float16 NHWC with batch 2 (float16 activations: a bound of
# 1e-2 of the largest logit, about ten half-precision roundings deep).
@pytest.mark.skipif("cuda" not in BACKENDS, reason="cuda backend not checked in this build")
def test_cuda_nhwc_f32(model_dir, tmp_path):
    check(model_dir, tmp_path, "mbv3s-xsep", "cuda", ("--layout", "nhwc"))


@pytest.mark.skipif("cuda" not in BACKENDS, reason="cuda backend not checked in this build")
def test_cuda_nhwc_f16_batch2(model_dir, tmp_path):
    check(model_dir, tmp_path, "mbv3s-xsep-k7", "cuda", ("--layout", "nhwc", "--dtype", "f16"), batch=2,
          bound=1e-2)


# Float16 networks' pointwise convolutions on the tensor-core GEMM, forced for
# every GEMM (by default it takes only grids of at least a block per SM, which
# these batch-1 networks do not reach): NCHW (x is GEMM's B, rows fastest) and NHWC
# (x is A, k fastest), with the SE multiplier folded into the GEMM.
@pytest.mark.skipif("cuda" not in BACKENDS, reason="cuda backend not checked in this build")
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_cuda_f16_tensor_core_gemm(model_dir, tmp_path, layout):
    check(model_dir, tmp_path, "mbv3s-xsep", "cuda", ("--layout", layout, "--dtype", "f16"), bound=1e-2,
          env={"XSEP_GEMM_KERNEL": "tensor_core"})


# ONNX Clip without a bound clamps to the float type's lowest / max (not +-inf):
# Clip(x, min=0) maps +inf to FLT_MAX, as onnxruntime does. Such a Clip is not a
# ReLU (which keeps +inf), so the cuda backend must not fuse it as one: alone
# (an elementwise pass), and after a depthwise conv (1x1, weight 1), whose
# epilogue would absorb a ReLU. float32: in float16 FLT_MAX is itself +inf.
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("after_conv", [False, True], ids=["alone", "after-depthwise"])
def test_clip_default_bound_saturates_infinity(tmp_path, backend, after_conv):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 3, 3]) for n in ("x", "y")]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "lo")]
    nodes = [helper.make_node("Clip", ["t" if after_conv else "x", "lo"], ["y"])]
    if after_conv:
        inits.append(numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w"))
        nodes.insert(0, helper.make_node("Conv", ["x", "w"], ["t"], group=2, kernel_shape=[1, 1]))
    graph = helper.make_graph(nodes, "clip", io[:1], io[1:], inits)
    model = tmp_path / "clip.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), model)
    x = np.random.default_rng(5).standard_normal((1, 2, 3, 3)).astype(np.float32)
    x[0, 0, 0, 0], x[0, 1, 1, 1] = np.inf, -np.inf
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert expected[0, 0, 0, 0] == np.finfo(np.float32).max  # onnxruntime's reading of the default
    got, _ = run_xsep(model, x, tmp_path, backend)
    assert np.array_equal(got, expected), f"{got.ravel()} vs {expected.ravel()}"


def _save_model(tmp_path, name, nodes, inputs, outputs, inits=()):
    import onnx
    from onnx import helper
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), path)
    return path


# A model with two outputs: xsep-run gives the runner a buffer for each, shows
# both shapes and writes the first with --output (it overflowed a one-pointer
# array before). A fixed batch of 2 runs without --batch.
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_outputs_and_fixed_batch(tmp_path, backend):
    from onnx import TensorProto, helper, numpy_helper

    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 4]) for n in ("relu", "neg")]
    nodes = [helper.make_node("Relu", ["x"], ["relu"]), helper.make_node("Mul", ["x", "m1"], ["neg"])]
    path = _save_model(tmp_path, "two_outputs", nodes, [x_info], outs,
                       [numpy_helper.from_array(np.array([-1.0], np.float32), "m1")])
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    got, stdout = run_xsep(path, x, tmp_path, backend)
    assert np.array_equal(got, np.maximum(x, 0)), got
    assert "output 2 x 4 (output 0, shown below)" in stdout and "output 2 x 4 (output 1)" in stdout, stdout
    proc, _ = xsep_run(path, backend, tmp_path)  # no --input, no --batch: the declared batch 2
    assert proc.returncode == 0, proc.stderr
    assert "input  2 x 4" in proc.stdout, proc.stdout


# .npy headers that lie: a huge, an overflowing and a negative shape, and a file
# shorter than its shape. Each is one line on stderr and exit status 1, before
# any allocation of the claimed size.
@pytest.mark.parametrize("shape,reason", [
    ("(100000, 100000, 100000)", "more than 2^31-1 elements"),
    ("(4294967296, 4294967296, 4)", "more than 2^31-1 elements"),
    ("(1, -4)", "negative dimension"),
    ("(1, 1, 8, 8)", "truncated data"),
    ("(1, x)", "not an integer"),
])
def test_bad_npy_header(tmp_path, shape, reason):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() +
                     np.zeros(4, np.float32).tobytes())
    from onnx import TensorProto, helper
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 8, 8]) for n in ("x", "y")]
    model = _save_model(tmp_path, "relu", [helper.make_node("Relu", ["x"], ["y"])], io[:1], io[1:])
    proc = subprocess.run([XSEP_RUN, str(model), "--backend", "reference", "--input", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xsep-run: ") and reason in lines[0], proc.stderr
