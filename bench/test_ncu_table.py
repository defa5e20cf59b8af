# bench/ncu_table.py on a synthetic Nsight Compute CSV log (the numbers are made up:
# they exercise the parsing and the per-output arithmetic, not a measurement).
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import ncu_table  # noqa: E402


def fake_log(values, units_of=None):
    head = ['"ID"', '"Process ID"', '"Kernel Name"'] + [f'"{m}"' for m in ncu_table.METRICS]
    units = ['""', '""', '""'] + [f'"{(units_of or {}).get(m, "")}"' for m in ncu_table.METRICS]
    row = ['"0"', '"123"', '"void xsep::kernels::xsepconv_kernel<__half, 7>(xsep::kernels::XsParams)"']
    row += [f'"{values.get(m, 0)}"' for m in ncu_table.METRICS]
    return "==PROF== Connected to process 123\n" + "\n".join(",".join(r) for r in (head, units, row)) + "\n"


def test_parse_row_counts_outputs_and_bytes():
    d = ncu_table.parse_row("xsepconv/f16/nhwc/N64_C96_56x56/k7/s2")
    assert d["outputs"] == 64 * 96 * 28 * 28
    assert d["min_bytes"] == 2 * (64 * 96 * 56 * 56 + 64 * 96 * 28 * 28)


def test_table_from_log(tmp_path):
    outputs = 64 * 96 * 56 * 56
    log = tmp_path / "stream__xsepconv~f16~nhwc~N64_C96_56x56~k7~s1.csv"
    log.write_text(fake_log({
        "gpu__time_duration.sum": "32,000",  # ns, with a thousands separator as ncu prints
        "dram__bytes_read.sum": 2 * outputs, "dram__bytes_write.sum": 2 * outputs,
        "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_ld.sum": 10 * outputs / 32,
        "l1tex__data_pipe_lsu_wavefronts_mem_shared_op_st.sum": 3 * outputs / 32,
        "smsp__inst_executed.sum": 60 * outputs / 32, "launch__registers_per_thread": 64,
    }))
    out = tmp_path / "ncu.json"
    assert ncu_table.main([str(log), "--json", str(out)]) == 0
    import json
    (r,) = json.loads(out.read_text())
    assert r["variant"] == "stream" and r["row"] == "xsepconv/f16/nhwc/N64_C96_56x56/k7/s1"
    assert abs(r["us"] - 32.0) < 1e-9
    assert abs(r["dram_over_min"] - 1.0) < 1e-9
    assert abs(r["smem_ld_wf_per_out"] - 10 / 32) < 1e-9
    assert abs(r["inst_per_out"] - 60) < 1e-9
    assert r["registers"] == 64


def test_log_without_kernel_is_reported(tmp_path, capsys):
    log = tmp_path / "tiled__xsepconv~f32~nchw~N64_C96_56x56~k7~s1.csv"
    log.write_text("==ERROR== no kernels were profiled\n")
    assert ncu_table.main([str(log)]) == 1
    assert "no profiled kernel" in capsys.readouterr().err


def test_scaled_units_are_converted(tmp_path):
    # ncu without --print-units base prints e.g. usecond and Mbyte: same numbers after reading.
    outputs = 64 * 96 * 56 * 56
    log = tmp_path / "tiled__xsepconv~f16~nhwc~N64_C96_56x56~k7~s1.csv"
    log.write_text(fake_log({
        "gpu__time_duration.sum": "32.5",
        "dram__bytes_read.sum": 2 * outputs / 1e6, "dram__bytes_write.sum": 2 * outputs / 1e6,
        "smsp__inst_executed.sum": 60 * outputs / 32, "launch__registers_per_thread": 64,
    }, units_of={"gpu__time_duration.sum": "usecond", "dram__bytes_read.sum": "Mbyte",
                 "dram__bytes_write.sum": "Mbyte", "launch__registers_per_thread": "register/thread"}))
    out = tmp_path / "ncu.json"
    assert ncu_table.main([str(log), "--json", str(out)]) == 0
    import json
    (r,) = json.loads(out.read_text())
    assert abs(r["us"] - 32.5) < 1e-9
    assert abs(r["dram_over_min"] - 1.0) < 1e-9
    assert r["registers"] == 64


def test_unknown_time_unit_is_an_error(tmp_path):
    text = fake_log({"gpu__time_duration.sum": "3"}, units_of={"gpu__time_duration.sum": "fortnight-second"})
    try:
        ncu_table.read_ncu_csv(text)
    except ValueError as e:
        assert "not understood" in str(e)
    else:
        raise AssertionError("an unknown unit of time was read as a number")
