"""xsep-run on seeded mutations of the MobileNetV3-Small models (model_mutations.py).

What a user gets from a broken model file, whatever is broken: exit status 1 and
one line "xsep-run: XSEP_STATUS_<INVALID_ARGUMENT|UNSUPPORTED|OUT_OF_MEMORY>:
xsep_graph_load: ..." — never a crash, a hang or a sanitizer report (CTest runs
this with the ASan+UBSan build). A mutant that loads must compute what
onnxruntime computes on it (NaN where onnxruntime has NaN, e.g. a negative BN
epsilon).

Runs only when XSEP_RUN names an xsep-run binary (CTest sets it), with the
backends of XSEP_RUN_BACKENDS. The models are shrunk to 32x32 inputs so that the
few mutants which load run in seconds. XSEP_FUZZ_SEED draws another set.
"""
import os
import re

import numpy as np
import pytest

from python_ref.tests.model_mutations import mutate
from python_ref.tests.runner_support import BACKENDS, SIDE, compare_with_onnxruntime, needs_xsep_run, xsep_run

SEED = int(os.environ.get("XSEP_FUZZ_SEED", "20261128"))
CASES = 60

pytestmark = needs_xsep_run

REFUSAL = re.compile(r"^xsep-run: XSEP_STATUS_(INVALID_ARGUMENT|UNSUPPORTED|OUT_OF_MEMORY): xsep_graph_load: \S")
SANITIZER = re.compile(r"Sanitizer|runtime error:|LeakSanitizer")


def declared_input_shape(model):
    """The input's declared shape with a symbolic batch as 1; None when unusable."""
    if len(model.graph.input) != 1:
        return None
    shape = []
    for d in model.graph.input[0].type.tensor_type.shape.dim:
        v = d.dim_value if d.HasField("dim_value") else 1
        if not 1 <= v <= 4096:
            return None
        shape.append(v)
    return shape if len(shape) == 4 and np.prod(shape) <= (1 << 22) else None


@pytest.mark.parametrize("case", range(CASES))
def test_mutant(bases, tmp_path, case):
    model, what = mutate(bases[case % 2], SEED * 1000 + case)
    path = tmp_path / "mutant.onnx"
    path.write_bytes(model.SerializeToString())
    shape = declared_input_shape(model)
    x = None if shape is None else np.random.default_rng(case).standard_normal(shape).astype(np.float32)
    print(f"\ncase {case} ({what}):")
    for backend in BACKENDS:
        proc, got = xsep_run(path, backend, tmp_path, x)
        assert not SANITIZER.search(proc.stderr), proc.stderr[-3000:]
        assert proc.returncode in (0, 1), f"{what}: exit status {proc.returncode}\n{proc.stderr[-3000:]}"
        if proc.returncode == 1:
            message = proc.stderr.strip()
            print(f"  {backend}: {message[:200]}")
            assert REFUSAL.match(message), f"{what}: not a load refusal:\n{message}"
            assert "\n" not in message, message
            continue
        print(f"  {backend}: runs")
        if x is not None:
            compare_with_onnxruntime(path, x, got, what)


# The activation formats: each backend's default (float32 NCHW), and on the
# cuda backend the NHWC kernels in float32 and in float16 (the half
# conversions: a bound of 1e-2 of the largest logit, as in test_runner.py).
FORMATS = [(b, ()) for b in BACKENDS]
if "cuda" in BACKENDS:
    FORMATS += [("cuda", ("--layout", "nhwc")), ("cuda", ("--layout", "nhwc", "--dtype", "f16"))]


@pytest.mark.parametrize("backend,extra", FORMATS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
@pytest.mark.parametrize("variant", [0, 1], ids=["mbv3s-xsep", "mbv3s"])
def test_nan_input_propagates(bases, tmp_path, variant, backend, extra):
    """One NaN pixel in image 0 of 2: image 0's logits are NaN (the pooling spreads
    it), image 1's are finite, as in onnxruntime. An activation that maps NaN to 0
    (fmaxf(NaN, 0) = 0) would return finite logits for image 0."""
    path = tmp_path / "model.onnx"
    path.write_bytes(bases[variant].SerializeToString())
    x = np.random.default_rng(3).standard_normal((2, 3, SIDE, SIDE)).astype(np.float32)
    x[0, 1, SIDE // 2, SIDE // 3] = np.nan
    proc, got = xsep_run(path, backend, tmp_path, x, extra)
    assert proc.returncode == 0, proc.stderr
    assert np.isnan(got[0]).all() and np.isfinite(got[1]).all()
    compare_with_onnxruntime(path, x, got, "NaN input", bound=1e-2 if "f16" in extra else 1e-4)
