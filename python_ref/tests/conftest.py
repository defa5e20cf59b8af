"""Fixtures of python_ref's tests."""
import pytest

from python_ref import build_models
from python_ref.tests.runner_support import SIDE


@pytest.fixture(scope="module")
def bases():
    """mbv3s-xsep and mbv3s with SIDE x SIDE inputs, for the runner's model tests."""
    out = []
    for variant in ("mbv3s-xsep", "mbv3s"):
        model, _ = build_models.build_mbv3s(variant)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = SIDE
        del model.graph.value_info[:]  # 224x224 shapes; the loader infers them again
        out.append(model)
    return out
