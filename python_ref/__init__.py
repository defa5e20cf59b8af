# python_ref: float64 numpy reference of the xsep operators (xsep_ref), ONNX Runtime
# cross-check models (onnx_models) and the golden-vector writer for the C++ tests (goldens).
from . import xsep_ref  # noqa: F401
