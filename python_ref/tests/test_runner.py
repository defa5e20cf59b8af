"""xsep-run (the graph runner's CLI) against onnxruntime on the three networks.

Runs only when XSEP_RUN names an xsep-run binary (CTest sets it; see
tests/graph/CMakeLists.txt). XSEP_RUN_BACKENDS lists the backends to check
(default "reference"; "cuda" runs the CUDA backend, which is the emulated device
in an XSEP_DEVICE=emu build). Largest differences are printed for the record.
"""
import numpy as np
import onnxruntime as ort
import pytest

from python_ref import build_models
from python_ref.tests.runner_support import BACKENDS, needs_xsep_run, xsep_run
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
