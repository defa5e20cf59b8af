#!/usr/bin/env python3
"""Exact work counts of the two fused XSepConv kernels, from their launchers' tile choices
(no GPU, nothing timed): the tile each launcher picks, its shared memory and blocks, and per
output the x elements staged from L2 and the 2x2 (t1) evaluations, plus the fraction of the
t1/t2 rows computed that lie inside the image. bench/NOTES.md items 9-11 quote these tables.

It mirrors launch_xsepconv (kernels/xsepconv.cuh), launch_xsepconv_stream
(kernels/xsepconv_stream.cuh), shrink_to_fit / balance_rows (kernels/tiling.h) and
use_stream_xsepconv (kernels/dispatch.cpp), for an H100 / H200 unless given another card's
limits (kernels/device_limits.h). bench/test_tile_counts.py checks the mirror
against the library's own launch log (XSEP_LOG_LAUNCHES=1) on the emulated device, so a
launcher change that is not mirrored here fails a test instead of going stale.

  python3 bench/tile_counts.py            # the tables for N64_C96_56x56 and a few others
"""
K_OPT, COMPILED_TILED = 4, (3, 5, 7, 9)

# kernels/device_limits.h's DeviceLimits of the card the launchers size their tiles for; the
# launch log names them (sms, smem_sm, smem_block, smem_reserved). An H100 SXM / H200 (and the
# emulated device's default) by default.
H100 = dict(smem_block=227 * 1024, smem_sm=228 * 1024, smem_reserved=1024, sms=132)


def smem_for_blocks(dev, blocks):
    """DeviceLimits::smem_for_blocks: what `blocks` blocks leave each of an SM, at most a block's limit."""
    return min(max(dev["smem_sm"] // blocks - dev["smem_reserved"], 0), dev["smem_block"])


def round_up(v, m):
    return (v + m - 1) // m * m


def ceil_div(v, m):
    return (v + m - 1) // m


def out_size(n, s):
    return (n - 1) // s + 1


def staging_vec(c, nhwc, esz):
    """stage.cuh staging_vec for a 16-byte-aligned x."""
    width = 16 // esz
    return width if nhwc and c % width == 0 else 1


def default_kernel(nhwc, k):
    """dispatch.cpp use_stream_xsepconv without XSEP_XSEPCONV_KERNEL."""
    return "stream" if nhwc and k >= 11 else "tiled"


# ---------------------------------------------------------------- tiled (xsepconv.cuh)

def xs_smem(k, s, th, tw, tc, smem_taps):
    weights = (2 * k * tc + 3) // 4 * 4 if smem_taps else 0
    rows = s * (th - 1) + k
    c1 = round_up(s * (tw - 1) + k, K_OPT)
    t1 = (rows * (c1 + 1) * tc + 3) // 4 * 4
    xrows, xcols = rows + 2, c1 + 3
    region = max(xrows * xcols * tc, rows * (tw + 1) * tc)
    return dict(rows=rows, c1=c1, xrows=xrows, xcols=xcols, floats=weights + t1 + region)


def shrink_to_fit(t, min_h, min_w, budget, smem_bytes):
    h, w, c, vec = t
    while smem_bytes(h, w, c) > budget:
        if h > min_h and h >= w:
            h = max(min_h, round_up(h // 2, min_h))
        elif w > min_w:
            w = max(min_w, round_up(w // 2, min_w))
        elif h > min_h:
            h = max(min_h, round_up(h // 2, min_h))
        elif c > 1:
            c //= 2
            if c % vec:
                vec = 1
        else:
            break
    return [h, w, c, vec]


def tiled_plan(n, c, h, w, k, s, nhwc, esz, dev=H100):
    ho, wo = out_size(h, s), out_size(w, s)
    vec = staging_vec(c, nhwc, esz)
    smem_taps = k not in COMPILED_TILED
    if not nhwc:
        t = [min(round_up(ho, K_OPT), 32), min(round_up(wo, K_OPT), 32), 1, 1]
    else:
        t = [min(round_up(ho, K_OPT), 8), min(round_up(wo, K_OPT), 8), min(round_up(c, vec), 32), vec]
    nbytes = lambda th, tw, tc: xs_smem(k, s, th, tw, tc, smem_taps)["floats"] * 4  # noqa: E731
    t = shrink_to_fit(t, K_OPT, K_OPT, min(96 * 1024, dev["smem_block"]), nbytes)
    th, tw, tc, vec = t
    th = min(th, round_up(ceil_div(ho, ceil_div(ho, th)), K_OPT))  # balance_rows
    m = xs_smem(k, s, th, tw, tc, smem_taps)
    tiles_h, tiles_w = ceil_div(ho, th), ceil_div(wo, tw)
    # Work: every tile stages its whole window; t1 rows inside the image only (item 10).
    inside = sum(max(0, min(s * j * th - k // 2 + m["rows"], h) - max(s * j * th - k // 2, 0))
                 for j in range(tiles_h))
    return dict(kernel="xsepconv_tiled", kernel_k=0 if smem_taps else k, tile_h=th, tile_w=tw, tile_c=tc,
                vec=vec, blocks=n * ceil_div(c, tc) * tiles_h * tiles_w, smem=m["floats"] * 4,
                x_per_out=tiles_h * tiles_w * m["xrows"] * m["xcols"] / (ho * wo),
                t1_per_out=inside * tiles_w * m["c1"] / (ho * wo),
                inside=inside / (tiles_h * m["rows"]))


# ---------------------------------------------------------------- stream (xsepconv_stream.cuh)

def xs_stream_smem(k, s, gr, tw, tc, smem_taps):
    weights = (2 * k * tc + 3) // 4 * 4 if smem_taps else 0
    nb, r = s * gr, s * (gr - 1) + k
    rr = ceil_div(r, nb) * nb
    slot_multiple = 32 // tc if 8 <= tc < 32 else 1
    rx = round_up(nb + 2, slot_multiple)
    c1 = round_up(s * (tw - 1) + k, K_OPT)
    xring = (rx * (c1 + 3) * tc + 3) // 4 * 4
    t1, t2 = nb * (c1 + 1) * tc, rr * (tw + 1) * tc
    return dict(nb=nb, prologue=rr // nb - 1, c1=c1, xcols=c1 + 3, floats=weights + xring + t1 + t2)


def stream_min_blocks(kernel_k):
    """xsepconv_stream.cuh stream_min_blocks (kernel_k = 0: the run-time-K kernel)."""
    return 4 if kernel_k == 0 or kernel_k <= 9 else 3 if kernel_k <= 17 else 2


def stream_plan(n, c, h, w, k, s, nhwc, esz, dev=H100):
    ho, wo = out_size(h, s), out_size(w, s)
    vec = staging_vec(c, nhwc, esz)
    smem_taps = k == 1  # every other odd K up to 31 is compiled

    def group_rows(tw, tc):
        gr = K_OPT
        while gr < 32 // s and (gr // K_OPT) * tw * tc < 256:
            gr *= 2
        return min(gr, round_up(ho, K_OPT))

    balanced = lambda tw_max: round_up(ceil_div(wo, ceil_div(wo, tw_max)), K_OPT)  # noqa: E731

    def nbytes(tw_max, tc):
        tw = balanced(tw_max)
        return xs_stream_smem(k, s, group_rows(tw, tc), tw, tc, smem_taps)["floats"] * 4

    tc_start = min(round_up(c, vec), 32) if nhwc else 1
    tw_start = min(round_up(wo, K_OPT), 64 if nhwc else 128)
    st = dict(tc=tc_start, tw=tw_start, vec=vec)

    def shrink(budget, tc_floor, tw_floor):
        while nbytes(st["tw"], st["tc"]) > budget:
            if st["tc"] > tc_floor:
                st["tc"] = max(tc_floor, st["tc"] // 2)
                if st["tc"] % st["vec"]:
                    st["vec"] = 1
            elif st["tw"] > tw_floor:
                st["tw"] = max(tw_floor, round_up(st["tw"] // 2, K_OPT))
            else:
                return False
        return True

    sector_tc = min(tc_start, max(vec, 32 // esz)) if nhwc else 1
    preferred = smem_for_blocks(dev, stream_min_blocks(0 if smem_taps else k))
    largest = min(max(preferred, 96 * 1024), dev["smem_block"])
    if not shrink(preferred, sector_tc, min(16, tw_start)):
        st.update(tc=tc_start, tw=tw_start, vec=vec)
        shrink(largest, sector_tc, min(16, tw_start))
        if not shrink(largest, 1, K_OPT):
            return None
    tw, tc, vec = balanced(st["tw"]), st["tc"], st["vec"]
    gr = group_rows(tw, tc)
    m = xs_stream_smem(k, s, gr, tw, tc, smem_taps)
    strips, tiles_c = ceil_div(wo, tw), ceil_div(c, tc)
    base = n * tiles_c * strips
    # Row chunks: least waves x batches per block (the device's SMs x blocks per SM).
    per_sm = max(1, min(stream_min_blocks(0 if smem_taps else k),
                        dev["smem_sm"] // (m["floats"] * 4 + dev["smem_reserved"])))
    slots = dev["sms"] * per_sm
    chunks, chunk_rows, best = 1, round_up(ho, gr), None
    for want in range(1, min(ceil_div(ho, gr * max(1, m["prologue"])), 64) + 1):
        rows = round_up(ceil_div(ho, want), gr)
        got = ceil_div(ho, rows)
        cost = ceil_div(base * got, slots) * (rows // gr + m["prologue"])
        if best is None or cost < best:
            best, chunks, chunk_rows = cost, got, rows
    rows = inside = xrows = 0
    for q in range(chunks):
        begin = q * chunk_rows
        end = min(begin + chunk_rows, ho)
        r_lo = s * begin - k // 2
        nrows = (ceil_div(end - begin, gr) + m["prologue"]) * m["nb"]
        rows += nrows
        xrows += nrows + 2
        inside += max(0, min(r_lo + nrows, h) - max(r_lo, 0))
    return dict(kernel="xsepconv_stream", kernel_k=0 if smem_taps else k, tile_w=tw, tile_c=tc, group_rows=gr,
                chunk_rows=chunk_rows, chunks=chunks, prologue=m["prologue"], vec=vec, blocks=base * chunks,
                smem=m["floats"] * 4, x_per_out=strips * xrows * m["xcols"] / (ho * wo),
                t1_per_out=strips * inside * m["c1"] / (ho * wo), inside=inside / rows)


def plan(kernel, *args, dev=H100):
    return (tiled_plan if kernel == "tiled" else stream_plan)(*args, dev=dev)


# ---------------------------------------------------------------- tables

def main():
    shape = (64, 96, 56, 56)
    print("Per output: x staged from L2, 2x2 evaluations; tile; fraction of t1/t2 rows inside the image.\n")
    for name, nhwc, esz in (("f16 NHWC", True, 2), ("f32 NHWC", True, 4), ("f32 NCHW", False, 4)):
        for s in (1, 2):
            print(f"## {name}, stride {s}, N{shape[0]}_C{shape[1]}_{shape[2]}x{shape[3]} (default marked *)")
            print("| K | tiled x | t1 | tile h×w×c | inside | stream x | t1 | tile rows×w×c | inside |")
            print("|---|---|---|---|---|---|---|---|---|")
            for k in (3, 5, 7, 9, 11, 13, 21, 31):
                a, b = tiled_plan(*shape, k, s, nhwc, esz), stream_plan(*shape, k, s, nhwc, esz)
                mark = lambda kern: "*" if default_kernel(nhwc, k) == kern else ""  # noqa: E731
                print(f"| {k} | {a['x_per_out']:.2f}{mark('tiled')} | {a['t1_per_out']:.2f} | "
                      f"{a['tile_h']}×{a['tile_w']}×{a['tile_c']} | {a['inside']:.2f} | "
                      f"{b['x_per_out']:.2f}{mark('stream')} | {b['t1_per_out']:.2f} | "
                      f"{b['group_rows']}×{b['tile_w']}×{b['tile_c']} | {b['inside']:.2f} |")
            print()


if __name__ == "__main__":
    main()
