#!/usr/bin/env python3
"""Napkin math for bench/NOTES.md (no GPU, no numbers measured): bytes, memory and compute
floors of the benchmark shapes, and a model of what the kernels did on them at commit
e41eeab, from the tile choice of kernels/dwconv.cuh and kernels/xsepconv.cuh of that
commit: tile, shared memory, blocks per SM, how many times x is staged from L2 (halo
re-reads), shared-memory loads and FMAs per output, and the time each resource alone would
take. It predicts, it never measures.

OUT OF DATE for the kernel model (bench/NOTES.md item 8): the kernels have since moved
weights into registers, changed the shared-memory pitches and tiles, and added the
row-streaming kernel. Its byte and floor columns still hold; for the tiles the launchers
choose now, use bench/tile_counts.py (tested against the launch log).

  python3 bench/napkin.py [--copy-tbps 3.0] [--l2-tbps 5.5] [--markdown]
"""
import argparse
import math

# H100 SXM (SPEC 6): ~3.0 TB/s achievable copy, 132 SMs, 128 FP32 lanes per SM at
# ~1.98 GHz = 33.5 T FMA/s; shared memory: one 32-lane 4-byte load instruction per SM per
# clock = 8.4 T lane-loads/s; 228 KB of shared memory and 2048 threads per SM.
SMS, CLOCK, FMA_LANES = 132, 1.98e9, 128
SMEM_PER_SM, SMEM_RESERVED, THREADS_PER_SM, REGS_PER_SM = 228 * 1024, 1024, 2048, 65536
K_OPT, THREADS = 4, 256
REGS = {"dw": 40, "xs": 48}  # ptxas -v, sm_90, CUDA 13.0 (bench/NOTES.md)


# kernels/tiling.h's shrink_to_fit, shared with tile_counts.py (returns [h, w, c, vec]).
from tile_counts import round_up, shrink_to_fit  # noqa: E402


def dw_tile(kh, kw, sh, sw, C, ho, wo, nhwc, f16):
    along_h = kw == 1 and kh != 1
    vw = 8 if f16 else 4
    vec = vw if nhwc and C % vw == 0 else 1
    if not nhwc:
        t = ([min(round_up(ho, 4), 32), min(wo, 32), 1, 1] if along_h else
             [min(ho, 16), min(round_up(wo, 4), 64), 1, 1])
    else:
        tc = min(round_up(C, vec), 32)
        t = ([min(round_up(ho, 4), 8), min(wo, 4), tc, vec] if along_h else
             [min(ho, 4), min(round_up(wo, 4), 8), tc, vec])

    def floats(h, w, c):
        return (kh * kw * c + 3) // 4 * 4 + (sh * (h - 1) + kh) * (sw * (w - 1) + kw) * c
    h, w, c, vec = shrink_to_fit(t, 4 if along_h else 1, 1 if along_h else 4, 48 * 1024, lambda *a: 4 * floats(*a))
    return dict(h=h, w=w, c=c, vec=vec, smem=4 * floats(h, w, c), rows=sh * (h - 1) + kh, cols=sw * (w - 1) + kw)


def xs_smem_floats(k, s, th, tw, tc):
    weights = ((4 + 2 * k) * tc + 3) // 4 * 4
    rows = s * (th - 1) + k
    c1 = round_up(s * (tw - 1) + k, K_OPT)
    return weights + rows * c1 * tc + max((rows + 2) * (c1 + 2) * tc, rows * tw * tc), rows, c1


def xs_tile(k, s, C, ho, wo, nhwc, f16):
    vw = 8 if f16 else 4
    vec = vw if nhwc and C % vw == 0 else 1
    t = ([min(round_up(ho, 4), 16), min(round_up(wo, 4), 32), 1, 1] if not nhwc else
         [min(round_up(ho, 4), 8), min(round_up(wo, 4), 8), min(round_up(C, vec), 32), vec])
    h, w, c, vec = shrink_to_fit(t, 4, 4, 96 * 1024, lambda a, b, cc: 4 * xs_smem_floats(k, s, a, b, cc)[0])
    fl, rows, c1 = xs_smem_floats(k, s, h, w, c)
    return dict(h=h, w=w, c=c, vec=vec, smem=4 * fl, rows=rows, c1=c1)


def staged_fraction(H, W, tile_h, tile_w, ho, wo, win_rows, win_cols, row0, col0, sh, sw):
    """In-image window elements staged over all tiles / H*W (x read amplification from L2)."""
    total = 0
    for th in range(math.ceil(ho / tile_h)):
        r0 = th * tile_h * sh + row0
        rows = max(0, min(H, r0 + win_rows) - max(0, r0))
        for tw in range(math.ceil(wo / tile_w)):
            c0 = tw * tile_w * sw + col0
            total += rows * max(0, min(W, c0 + win_cols) - max(0, c0))
    return total / (H * W)


def blocks_per_sm(smem, regs):
    by_smem = SMEM_PER_SM // (smem + SMEM_RESERVED)
    by_threads = THREADS_PER_SM // THREADS
    by_regs = REGS_PER_SM // (regs * THREADS)
    return min(by_smem, by_threads, by_regs, 32)


def line_cost(k, s):
    """Shared loads (data + weights) and FMAs per kOpt outputs of one filter line:
    conv_line_fixed (K = 3, 5, 7, 9: each loaded value reused across the kOpt outputs) or
    conv_line_any (the run-time-K kernel for every other K: one load per tap and output)."""
    if k in (3, 5, 7, 9):
        return s * (K_OPT - 1) + k + k, K_OPT * k
    return k + K_OPT * k, K_OPT * k


def model(op, n, C, H, W, k, s, f16, nhwc, copy_tbps, l2_tbps):
    es = 2 if f16 else 4
    ho, wo = (H - 1) // s + 1, (W - 1) // s + 1
    outs = n * C * ho * wo
    xb, yb = n * C * H * W * es, outs * es
    if op == "kxk":
        t = dw_tile(k, k, s, s, C, ho, wo, nhwc, f16)
        amp = staged_fraction(H, W, t["h"], t["w"], ho, wo, t["rows"], t["cols"], -(k // 2), -(k // 2), s, s)
        lds, fma = line_cost(k, s)
        lds_out, fma_out = k * lds / K_OPT, k * fma / K_OPT
        sts_out = amp * H * W / (ho * wo)  # staging stores per output
        regs = REGS["dw"]
    else:
        t = xs_tile(k, s, C, ho, wo, nhwc, f16)
        R, C1, th, tw = t["rows"], t["c1"], t["h"], t["w"]
        amp = staged_fraction(H, W, th, tw, ho, wo, R + 2, C1 + 2, -(k // 2) - 1, -(k // 2) - 1, s, s)
        # per tile and channel: pass 1 R*C1 positions (10 data + 4 weight loads, 16 FMA per 4),
        # pass 2 R x tw outputs, pass 3 tw x th outputs (conv_line each).
        l2, f2 = line_cost(k, s)
        l3, f3 = line_cost(k, s)
        lds_t = R * C1 / 4 * 14 + R * tw / 4 * l2 + tw * th / 4 * l3
        fma_t = R * C1 * 4 + R * tw / 4 * f2 + tw * th / 4 * f3
        lds_out, fma_out = lds_t / (th * tw), fma_t / (th * tw)
        sts_out = (amp * H * W / (ho * wo)) + (R * C1 + R * tw) / (th * tw)
        regs = REGS["xs"]
    bps = blocks_per_sm(t["smem"], regs)
    ideal_macs = k * k if op == "kxk" else 4 + 2 * k
    times = {
        "dram": (xb + yb) / (copy_tbps * 1e12) * 1e6,
        "l2": (amp * xb + yb) / (l2_tbps * 1e12) * 1e6,
        "smem": outs * (lds_out + sts_out) / (SMS * 32 * CLOCK) * 1e6,
        "fma": outs * fma_out / (SMS * FMA_LANES * CLOCK) * 1e6,
    }
    floor_compute = outs * ideal_macs / (SMS * FMA_LANES * CLOCK) * 1e6
    bound = max(times, key=times.get)
    return dict(op=op, tile=f"{t['h']}x{t['w']}x{t['c']}" + (f" v{t['vec']}" if t["vec"] > 1 else ""),
                smem_kb=t["smem"] / 1024, bps=bps, amp=amp, lds=lds_out, fma=fma_out, times=times,
                bound=bound, est=max(times.values()), mem_floor=times["dram"], compute_floor=floor_compute,
                xb=xb, yb=yb)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copy-tbps", type=float, default=3.0)
    ap.add_argument("--l2-tbps", type=float, default=5.5,
                    help="assumed L2->SM bandwidth (TB/s; not measured here)")
    args = ap.parse_args()
    print("OUT OF DATE: the kernel columns model the kernels of commit e41eeab (see the docstring)")
    print(f"assumptions: copy {args.copy_tbps} TB/s, L2->SM {args.l2_tbps} TB/s, {SMS} SMs at {CLOCK / 1e9} GHz, "
          f"FMA {SMS * FMA_LANES * CLOCK / 1e12:.1f} T/s, shared loads {SMS * 32 * CLOCK / 1e12:.1f} T lane-loads/s\n")
    hdr = ("| shape | dt/layout | K | s | op | MB x+y | mem floor us | compute floor us | tile | smem KB | "
           "blk/SM | x staged | LDS/out | FMA/out | dram us | L2 us | smem us | fma us | model us | bound | model %copy |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    shapes = [(64, 96, 56, 56), (32, 256, 56, 56)]
    for (n, C, H, W) in shapes:
        for f16, nhwc in ((True, True), (False, False), (False, True), (True, False)):
            for s in (1, 2):
                for k in (3, 5, 7, 9, 13, 31):
                    for op in ("xsep", "kxk"):
                        if not (s == 1 or k in (7,)):
                            continue
                        m = model(op, n, C, H, W, k, s, f16, nhwc, args.copy_tbps, args.l2_tbps)
                        t = m["times"]
                        print(f"| N{n}_C{C}_{H}x{W} | {'f16' if f16 else 'f32'}/{'nhwc' if nhwc else 'nchw'} | {k} | {s} "
                              f"| {op} | {(m['xb'] + m['yb']) / 1e6:.0f} | {m['mem_floor']:.0f} | {m['compute_floor']:.0f} "
                              f"| {m['tile']} | {m['smem_kb']:.1f} | {m['bps']} | {m['amp']:.1f}x | {m['lds']:.0f} "
                              f"| {m['fma']:.0f} | {t['dram']:.0f} | {t['l2']:.0f} | {t['smem']:.0f} | {t['fma']:.0f} "
                              f"| {m['est']:.0f} | {m['bound']} | {100 * m['mem_floor'] / m['est']:.0f}% |")


if __name__ == "__main__":
    main()
