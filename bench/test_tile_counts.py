# bench/tile_counts.py mirrors the fused launchers' tile choices; this checks the mirror
# against the library itself: xsep-demo --xsep-only runs one fused call with
# XSEP_LOG_LAUNCHES=1, and the launch line's tile, blocks and shared memory must equal the
# mirror's, for both kernels (forced) and for the default choice, on the card the launch line
# names (its shared memory and SMs): CTest runs it on the emulated H100, L4 and T4.
#   XSEP_DEMO=build-asan/xsep-demo python3 -m pytest -q bench/test_tile_counts.py
# CTest runs it that way (tests/CMakeLists.txt, tile_counts); without XSEP_DEMO, or with a
# CUDA build on a machine without a GPU (no launch to log), it skips.
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tile_counts  # noqa: E402

DEMO = os.environ.get("XSEP_DEMO")

# (n, c, h, w, k, stride, nhwc, f16): the benchmark's 56x56 plane at a small N and C (the
# tile does not depend on N; C = 32 starts from the same tile_c as C = 96), odd sizes, a C
# without the vector path, large K (shrinking) and stride 2.
CASES = [
    (1, 32, 56, 56, 7, 1, True, True),
    (1, 32, 56, 56, 13, 1, True, True),
    (1, 32, 56, 56, 31, 1, True, True),
    (1, 32, 56, 56, 31, 2, True, False),
    (1, 24, 28, 28, 9, 2, True, True),
    (2, 3, 33, 70, 5, 1, True, False),
    (1, 8, 56, 56, 7, 1, False, False),
    (1, 4, 70, 20, 13, 2, False, True),
    (1, 16, 14, 14, 21, 1, True, True),
    # Paths the shapes above miss (a review listed them): the stream kernel's fallback
    # shrinking tc below the 32-byte sector at K = 11-17 and at K >= 19 (vec 8 -> 1), the
    # tiled tile down to 4x4x4 (vec 8 -> 1), K = 1 (the run-time-K kernel, 96 KB fallback)
    # and NCHW's 128-column strip cap.
    (1, 16, 28, 1, 11, 2, True, True),
    (1, 8, 28, 14, 27, 2, True, True),
    (1, 32, 9, 9, 31, 2, True, True),
    (1, 16, 10, 17, 1, 2, True, True),
    (1, 1, 4, 260, 3, 1, False, False),
    # More blocks than the stream kernel's 264 resident slots (81 KB tiles, 2 per SM):
    # 300 blocks would be 1.14 waves, paid as 2; two row chunks make 600 (2.27 waves of
    # half-length blocks), the wave-count choice of the chunk count.
    (300, 32, 64, 4, 3, 2, True, True),
]


def launch_line(env_kernel, case):
    n, c, h, w, k, s, nhwc, f16 = case
    cmd = [DEMO, "--xsep-only", "--n", str(n), "--c", str(c), "--h", str(h), "--w", str(w), "--k", str(k),
           "--stride", str(s)] + (["--nhwc"] if nhwc else []) + (["--f16"] if f16 else [])
    env = dict(os.environ, XSEP_LOG_LAUNCHES="1")
    env.pop("XSEP_XSEPCONV_KERNEL", None)
    if env_kernel:
        env["XSEP_XSEPCONV_KERNEL"] = env_kernel
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    if "without a device" in r.stdout:
        pytest.skip("xsep-demo found no device (a CUDA build without a GPU): no launch to log")
    lines = [x for x in r.stderr.splitlines() if x.startswith("xsep launch: xsepconv_")]
    assert len(lines) == 1, r.stderr
    name, *pairs = lines[0][len("xsep launch: "):].split()
    return name, {key: value for key, value in (p.split("=", 1) for p in pairs)}


@pytest.mark.skipif(not DEMO, reason="XSEP_DEMO (a built xsep-demo) not set")
@pytest.mark.parametrize("kernel", ["tiled", "stream", None])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}_{}x{}_k{}s{}_{}_{}".format(
    *c[:6], "nhwc" if c[6] else "nchw", "f16" if c[7] else "f32"))
def test_mirror_matches_launch_log(kernel, case):
    n, c, h, w, k, s, nhwc, f16 = case
    name, log = launch_line(kernel, case)
    expected_kernel = kernel or tile_counts.default_kernel(nhwc, k)
    assert name == "xsepconv_" + expected_kernel
    # The card the launcher sized its tile for (the emulated device: XSEP_EMU_DEVICE).
    dev = {key: int(log[key]) for key in ("smem_block", "smem_sm", "smem_reserved", "sms")}
    want = tile_counts.plan(expected_kernel, n, c, h, w, k, s, nhwc, 2 if f16 else 4, dev=dev)
    assert want is not None
    keys = [key for key in log if key in want]
    assert {"tile_w", "tile_c", "blocks", "smem", "kernel_k"} <= set(keys), log
    got = {key: int(log[key]) for key in keys}
    assert got == {key: want[key] for key in keys}, (log, want)
