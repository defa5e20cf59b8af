"""bench_torch.py's float32 precision switch, without torch: fake torch.backends objects
of both generations (allow_tf32 only; fp32_precision since torch 2.9, where Inductor
refuses a mix of the two, so the new one must be the only one set)."""
from types import SimpleNamespace

from python_ref import bench_torch


class Legacy:
    def __init__(self):
        self.allow_tf32 = True


class Strict:
    """Raises on the legacy attribute, as a mix of the two APIs would."""

    def __init__(self):
        self.fp32_precision = "none"

    def __setattr__(self, name, value):
        if name == "allow_tf32":
            raise AssertionError("the legacy allow_tf32 was set next to fp32_precision")
        object.__setattr__(self, name, value)


def fake_torch(new_api):
    if new_api:
        cudnn = SimpleNamespace(conv=Strict())
        matmul = Strict()
    else:
        cudnn, matmul = Legacy(), Legacy()
    return SimpleNamespace(backends=SimpleNamespace(cudnn=cudnn, cuda=SimpleNamespace(matmul=matmul)))


def test_new_api_only_where_it_exists():
    for allow, mode in ((False, "ieee"), (True, "tf32")):
        t = fake_torch(True)
        bench_torch.set_fp32_precision(t, allow)
        assert t.backends.cudnn.conv.fp32_precision == mode
        assert t.backends.cuda.matmul.fp32_precision == mode
        assert bench_torch.fp32_precision(t) is allow


def test_legacy_api():
    for allow in (False, True):
        t = fake_torch(False)
        bench_torch.set_fp32_precision(t, allow)
        assert t.backends.cudnn.allow_tf32 is allow and t.backends.cuda.matmul.allow_tf32 is allow
        assert bench_torch.fp32_precision(t) is allow
