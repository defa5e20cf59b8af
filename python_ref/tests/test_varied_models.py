"""xsep-run on seeded valid variations of the MobileNetV3-Small models
(model_variations.py): each must load and compute what onnxruntime computes on
it, or be refused as UNSUPPORTED (a valid model the runner does not handle,
with one line saying why). This holds the cuda backend's fusion to the
ONNX semantics: a pattern matched on a node it does not fit (a 2x2 conv padded
another way, asymmetric or dilated padding, the 1xK and Kx1 in the other order,
a Clip that is not a ReLU, ...) gives a wrong output here.

Runs only when XSEP_RUN names an xsep-run binary (CTest sets it), with the
backends of XSEP_RUN_BACKENDS, on 32x32 inputs: 24 models of 2-4 variations
each (about a second a model on the emulated device under ASan).
XSEP_FUZZ_SEED draws another set.
"""
import os
import re

import numpy as np
import pytest

from python_ref.tests.model_variations import vary
from python_ref.tests.runner_support import BACKENDS, SIDE, compare_with_onnxruntime, needs_xsep_run, xsep_run

SEED = int(os.environ.get("XSEP_FUZZ_SEED", "20261129"))
CASES = 24

pytestmark = needs_xsep_run

UNSUPPORTED = re.compile(r"^xsep-run: XSEP_STATUS_UNSUPPORTED: xsep_graph_load: \S[^\n]*$")

# Variants run (not refused) per backend, and cases seen: a runner that refused
# everything would pass every case above, so test_most_variants_run (last in
# the file) asks that at least half of them ran (all 24 do at the default seed).
RAN = {backend: 0 for backend in BACKENDS}
SEEN = []


@pytest.mark.parametrize("case", range(CASES))
def test_variant(bases, tmp_path, case):
    model, what = vary(bases[case % 2], SEED * 1000 + case, count=2 + case % 3)
    path = tmp_path / "variant.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(case).standard_normal((1, 3, SIDE, SIDE)).astype(np.float32)
    print(f"\ncase {case} ({what}):")
    for backend in BACKENDS:
        proc, got = xsep_run(path, backend, tmp_path, x)
        if proc.returncode != 0:
            message = proc.stderr.strip()
            print(f"  {backend}: {message[:200]}")
            assert proc.returncode == 1 and UNSUPPORTED.match(message), \
                f"{what}: a valid model must run or be UNSUPPORTED; exit {proc.returncode}:\n{message[-3000:]}"
            continue
        print(f"  {backend}: runs")
        compare_with_onnxruntime(path, x, got, f"{what} [{backend}]")
        RAN[backend] += 1
    SEEN.append(case)


def test_most_variants_run():
    if len(SEEN) < CASES:
        pytest.skip(f"only {len(SEEN)} of {CASES} variant cases ran in this session (a -k selection?)")
    for backend, ran in RAN.items():
        assert ran >= CASES // 2, f"{backend}: only {ran} of {CASES} valid variants ran; the rest were refused"
