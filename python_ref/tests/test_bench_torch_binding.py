"""bench_torch.py's ctypes binding against the C header, without torch or a GPU: the
structures' sizes and field offsets, the enum values and the version the binding was
written for, as a C compiler sees include/xsep/xsep.h. A field added, reordered or
widened in the header, or a renumbered enum, fails here instead of silently feeding
the library misread arguments on the GPU machine."""
import ctypes
import os
import shutil
import subprocess

import pytest

from python_ref import bench_torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CC = shutil.which("cc") or shutil.which("gcc")

STRUCTS = {
    "xsep_tensor_desc": (bench_torch.TensorDesc, ["n", "c", "h", "w", "dtype", "layout"]),
    "xsep_epilogue": (bench_torch.Epilogue, ["scale", "bias", "act"]),
    "xsep_xsepconv_params": (bench_torch.XSepParams,
                             ["k", "stride", "pad", "w2x2", "w1xk", "wkx1", "ep2x2", "ep1xk", "epkx1"]),
}
ENUMS = {
    **{f"XSEP_DTYPE_{k.upper()}": v for k, v in bench_torch.DTYPE_ENUM.items()},
    **{f"XSEP_LAYOUT_{k.upper()}": v for k, v in bench_torch.LAYOUT_ENUM.items()},
    **{f"XSEP_PAD_{k}": v for k, v in bench_torch.PAD_ENUM.items()},
    "XSEP_ACT_HARDSWISH": bench_torch.ACT_HARDSWISH,
    "XSEP_VERSION_MAJOR": bench_torch.BINDING_VERSION[0],
    "XSEP_VERSION_MINOR": bench_torch.BINDING_VERSION[1],
}


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory):
    """{name: value} printed by a C program compiled against the header."""
    if CC is None:
        pytest.skip("no C compiler (cc) to read the header's layout")
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "xsep/xsep.h"', "int main(void) {"]
    for struct, (_, fields) in STRUCTS.items():
        lines.append(f'  printf("sizeof {struct} %zu\\n", sizeof({struct}));')
        for f in fields:
            lines.append(f'  printf("offsetof {struct}.{f} %zu\\n", offsetof({struct}, {f}));')
    for name in ENUMS:
        lines.append(f'  printf("value {name} %d\\n", (int){name});')
    lines += ["  return 0;", "}"]
    d = tmp_path_factory.mktemp("layout")
    (d / "layout.c").write_text("\n".join(lines) + "\n")
    exe = d / "layout"
    subprocess.run([CC, "-std=c11", "-I", os.path.join(REPO, "include"), str(d / "layout.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {key: int(value) for key, value in (line.rsplit(" ", 1) for line in out.splitlines())}


@pytest.mark.parametrize("struct", sorted(STRUCTS))
def test_struct_layout_matches_header(c_layout, struct):
    cls, fields = STRUCTS[struct]
    assert [f[0] for f in cls._fields_] == fields, "the binding's fields, in the header's order"
    for f in fields:
        assert getattr(cls, f).offset == c_layout[f"offsetof {struct}.{f}"], f"{struct}.{f}"
    assert ctypes.sizeof(cls) == c_layout[f"sizeof {struct}"], struct


def test_enum_values_and_version_match_header(c_layout):
    for name, value in ENUMS.items():
        assert value == c_layout[f"value {name}"], name
