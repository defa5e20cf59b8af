# bench/sass_mix.py on a synthetic SASS source page (made-up counts: they exercise
# the parsing and the per-output arithmetic, not a measurement).
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import sass_mix  # noqa: E402

HEAD = '"Address","Source","Warp Stall Sampling (All Samples)","Instructions Executed"'


def page(lines):
    rows = [f'"0x{i:x}","{src}","{stall}","{n}"' for i, (src, stall, n) in enumerate(lines)]
    return '"Kernel Name","void k()",\n' + "\n".join([HEAD] + rows) + "\n"


def test_opcode_drops_predicates_and_modifiers():
    assert sass_mix.opcode("      @!P0 IMAD.WIDE.U32 R2, R3, 0x4, R4") == "IMAD"
    assert sass_mix.opcode("@UPT FFMA R1, R2, R3, R4") == "FFMA"
    assert sass_mix.opcode("  LDS.128 R4, [R2]") == "LDS"
    assert sass_mix.opcode("") == "?"


def test_mix_sums_per_opcode():
    m = sass_mix.mix(page([("IMAD R1, R2, R3, R4", 3, "1,000"), ("@P1 IMAD.HI R1, R2", 1, 500),
                           ("FFMA R1, R2, R3, R4", 0, 250), ("BRA 0x10", 6, "n/a")]))
    assert m == {"IMAD": (1500, 4), "FFMA": (250, 0)}


def test_table_per_output():
    # 64*96*56*56 outputs; 19267584 warp-instructions = 32 thread-instructions per output.
    row = "xsepconv/f16/nhwc/N64_C96_56x56/k7/s1"
    text = page([("IMAD R1", 30, 19267584 * 3 // 4), ("FFMA R1", 10, 19267584 // 4)])
    t = sass_mix.table(row, text)
    assert t.splitlines()[0] == f"{row}: 32.0 thread-instructions per output"
    assert "| IMAD | 24.0 | 75.0 | 75.0 |" in t
    assert "| FFMA | 8.0 | 25.0 | 25.0 |" in t
