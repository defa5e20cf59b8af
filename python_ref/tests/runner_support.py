"""What the runner's model tests share: the side of the shrunk networks (the
`bases` fixture of conftest.py) and a NaN-aware comparison of xsep-run's output
with onnxruntime's."""
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

SIDE = 32
# CTest sets these (tests/graph/CMakeLists.txt): the xsep-run binary and the
# backends to check ("reference", or "reference,cuda").
XSEP_RUN = os.environ.get("XSEP_RUN")
BACKENDS = os.environ.get("XSEP_RUN_BACKENDS", "reference").split(",")
needs_xsep_run = pytest.mark.skipif(not XSEP_RUN, reason="XSEP_RUN (path of xsep-run) is not set")


def xsep_run(model, backend, tmp_path, x=None, extra=(), env=None):
    """xsep-run on `model` with `backend` (and x as --input, when given);
    returns the finished process and, when it succeeded on x, its --output."""
    args = [XSEP_RUN, str(model), "--backend", backend, *extra]
    yout = tmp_path / "y.npy"
    if x is not None:
        np.save(tmp_path / "x.npy", x)
        yout.unlink(missing_ok=True)
        args += ["--input", str(tmp_path / "x.npy"), "--output", str(yout)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900,
                          env=None if env is None else {**os.environ, **env})
    return proc, (np.load(yout) if x is not None and proc.returncode == 0 else None)


def onnxruntime_output(path, x):
    """onnxruntime's output on x, or the reason it refuses the model."""
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: not "Removing initializer ..., not used"
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0], None
    except Exception as e:  # noqa: BLE001 - any refusal is an answer here
        return None, str(e).splitlines()[0][:300]


def compare_with_onnxruntime(path, x, got, what, bound=1e-4):
    expected, refusal = onnxruntime_output(path, x)
    assert refusal is None, f"{what}: xsep-run runs it, onnxruntime refuses it: {refusal}"
    assert got.shape == expected.shape
    # NaN where onnxruntime has NaN, the same infinities, then the finite values.
    assert np.array_equal(np.isnan(got), np.isnan(expected)), f"{what}: NaNs differ from onnxruntime"
    inf = np.isinf(expected)
    assert np.array_equal(got[inf], expected[inf]), f"{what}: infinities differ from onnxruntime"
    finite = np.isfinite(expected)
    if finite.any():
        diff = np.abs(got[finite].astype(np.float64) - expected[finite]).max()
        scale = max(np.abs(expected[finite]).max(), 1e-30)
        assert diff <= bound * scale, f"{what}: max|diff| {diff:.3e}, max|y| {scale:.3e}"
