// The fused XSepConv block (SPEC 2.5), row-streaming variant:
//   t1 = E1(dw2x2_dir(x)),  t2 = E2(1xK_s(t1)),  y = E3(Kx1_s(t2)).
// Same contract as xsepconv.cuh (the tiled kernel). dispatch.cpp picks this one
// for NHWC with K >= 11, the tiled one otherwise (XSEP_XSEPCONV_KERNEL forces
// either). Instead of a 2-D tile plus a
// vertical halo, a block walks down the image, so the 2x2 and 1xK passes are
// computed once per row (no vertical recompute) and x is read once per strip
// (plus the K-1 column horizontal halo).
//
// Work of one block: image n, channels c0 .. c0+tc-1, output columns
// ow0 .. ow0+TW-1 (a "strip"), output rows oh_begin .. oh_end-1 (a "chunk";
// chunks exist only to shape the grid, enough blocks in whole waves; each
// re-computes its leading rows).
//
// Index math, s = stride, K = k, GR = output rows per group (a multiple of kOpt):
//   y(oh, ow)  needs t2 rows s*oh - K/2 .. s*oh + K/2, cols ow   (Kx1, stride s on H)
//   t2(r, ow)  needs t1 row r, cols s*ow - K/2 .. s*ow + K/2      (1xK, stride s on W)
//   t1(r, c)   needs x rows r - pt, r - pt + 1 and cols c - pl, c - pl + 1, where
//              (pt, pl) is the direction's (pad_top, pad_left); over all directions
//              (SYMMETRIC mixes them per channel) x rows r-1 .. r+1, cols c-1 .. c+1.
//   Columns: the strip's t1 columns are ca .. ca+C1-1, ca = s*ow0 - K/2,
//   C1 = s*(TW-1)+K rounded up to kOpt; its x columns ca-1 .. ca+C1 (C1+2 of them;
//   one more, ca+C1+1, is staged to make the row pitch odd: see the shared-memory layout).
//   Rows: "rel" row numbers count from the chunk's first t2 row r_lo = s*oh_begin - K/2:
//   t2 / t1 row r = r_lo + rel, and x row r_lo - 1 + xrel.
//   The walk goes in batches of NB = s*GR t2 rows: batch b makes t2 rel rows
//   b*NB .. b*NB+NB-1. Output group g (rows oh_begin + g*GR .. + GR-1) needs t2 rel rows
//   g*NB .. g*NB + R - 1 with R = s*(GR-1) + K, so it is ready after batch
//   b = g + P with P = ceil(R / NB) - 1 ("prologue" batches).
//   t2 ring: RR = (P+1)*NB slots, rel row q in slot q % RR. When batch b writes rel
//   rows b*NB .., it overwrites rel rows (b-P-1)*NB .., last read by group b-P-1 in
//   batch b-1's output pass; group b-P reads rel rows from (b-P)*NB on, all present.
//   x ring: RX >= NB+2 slots (xs_stream_smem), x rel row q in slot q % RX. Batch b's t1
//   rows need x rel rows b*NB .. b*NB+NB+1: batch 0 stages all NB+2, later batches the
//   NB new ones (b*NB+2 ..), overwriting rows that an earlier batch's 2x2 pass was the
//   last to read (row q - RX <= q - NB - 2).
// Per batch, three barriers: after staging x, after t1 (t1 buffer [NB][C1S][tc]),
// after t2; the output pass then reads the ring while the next batch stages x and
// writes t1 (both regions it does not read), and the next t2 pass is two barriers later.
// Outside the image t2 is zero (the intermediates' own zero padding): those t2
// rows are written as zeros, and their t1 rows are never computed, so the t1
// buffer holds stale rows from an earlier batch there that nothing may read.
#pragma once

#include "device_limits.h"
#include "launch.h"
#include "stage.cuh"
#include "tiling.h"
#include "xsepconv_common.cuh"

namespace xsep::kernels {

struct XsStreamParams {
  InputView in;
  void* y;
  const float* w2x2;
  const float* w1xk;
  const float* wkx1;
  Epilogue e1, e2, e3;
  int c, ho, wo;
  int k, s;
  int pad_top, pad_left, symmetric;
  int tile_w, tile_c, group_rows, chunk_rows;
  int strips, tiles_c, chunks;
};

// Shared memory, in floats: for the run-time-K kernel the taps [2K][tc] (a
// compile-time K keeps them in registers: no region); x ring [RX][XC][tc];
// t1 [NB][C1S][tc]; t2 ring [RR][TWS][tc].
// Row strides are odd multiples of tc: XC = C1 + 3 x columns (C1 + 2 are read,
// the last one is staged only to make the count odd), C1S = C1 + 1, TWS = TW + 1.
// Why: when tc < 32 a warp covers 32/tc work groups; the 2x2 and 1xK passes give
// them consecutive rows, and rows an odd multiple of tc apart start in distinct
// banks (j * m * tc mod 32 differ for j < 32/tc when m is odd and tc is a power
// of two), so those passes read and write without bank conflicts.
struct XsStreamSmem {
  int weights, nb, r, rr, prologue, rx, c1, xcols, c1s, tws, xring, t1, t2, floats;
};
inline __host__ __device__ XsStreamSmem xs_stream_smem(int k, int s, int gr, int tw, int tc, bool smem_taps) {
  XsStreamSmem m;
  m.weights = smem_taps ? (2 * k * tc + 3) / 4 * 4 : 0;
  m.nb = s * gr;
  m.r = s * (gr - 1) + k;
  m.rr = (m.r + m.nb - 1) / m.nb * m.nb;
  m.prologue = m.rr / m.nb - 1;
  // x ring slots: NB + 2 suffice; with tc = 8 or 16 a warp reads 32/tc consecutive
  // x rows, which start in distinct banks across the ring's wrap only when the
  // slot count is a multiple of 32/tc (the odd pitch XC does the rest).
  const int slot_multiple = (tc >= 8 && tc < 32) ? 32 / tc : 1;
  m.rx = (m.nb + 2 + slot_multiple - 1) / slot_multiple * slot_multiple;
  m.c1 = (s * (tw - 1) + k + kOpt - 1) / kOpt * kOpt;
  m.xcols = m.c1 + 3;
  m.c1s = m.c1 + 1;
  m.tws = tw + 1;
  // Regions start 16-byte aligned (the staging writes 16-byte vectors).
  m.xring = (m.rx * m.xcols * tc + 3) / 4 * 4;
  m.t1 = m.nb * m.c1s * tc;
  m.t2 = m.rr * m.tws * tc;
  m.floats = m.weights + m.xring + m.t1 + m.t2;
  return m;
}

// The Kx1 pass of one item over the t2 ring: window row q (q < slots) is ring
// slot (slot0 + q) mod slots, slot0 < slots, so one conditional subtraction wraps it.
//   acc[o] += sum_i wk[i] * row(s*o + i)[0],  o = 0 .. OPT-1.
template <int K, int OPT>
__device__ __forceinline__ void conv_kx1_ring(const float* ring, int step, int slot0, int slots, int s, int k,
                                              const FusedTaps<K>& w, float (&acc)[OPT]) {
  const auto load = [&](int q) {
    const int slot = slot0 + q;
    return ring[(slot >= slots ? slot - slots : slot) * step];
  };
  conv_taps<K, OPT>(load, s, k, w.wk, w.wsk, w.tc, acc);
}

// A thread's work groups g = g0, g0 + gstep, ... of one pass, each split into
// (minor, major) = (g % m, g / m) without a division per group: the start and
// the step are split once, and each step adds them with a carry
// (minor + dminor < 2m). The loop `g < m * majors` is `major < majors`.
// (Run-time divisions cost ~20 instructions each, and per group they were a
// large share of the kernel's ~258 instructions per output: bench/NOTES.md.)
struct GroupWalk {
  int minor, major, dminor, dmajor, m;
  __device__ __forceinline__ GroupWalk(int g0, int gstep, int m_)
      : minor(g0 % m_), major(g0 / m_), dminor(gstep % m_), dmajor(gstep / m_), m(m_) {}
  __device__ __forceinline__ void next() {
    minor += dminor;
    major += dmajor;
    if (minor >= m) minor -= m, ++major;
  }
};

// Blocks per SM the compiler must leave registers for (__launch_bounds__): four
// (64 registers) hide the row loads' latency, and suffice for K <= 9 and for
// the run-time-K kernel, whose taps live in shared memory. A compile-time
// K >= 11 keeps its 2K taps in registers: 3 blocks (80 registers, the
// allocation granularity) up to K = 17, 2 (128) beyond, where the taps alone
// take 38..62 registers; with fewer the compiler spills them inside the tap
// loops. The launcher then sizes the tile for that many blocks (a smaller one
// would add halo work without adding a block). At stride 2 the tiles of
// K = 11..17 do not fit 75 KB on the benchmark shapes (~77-81 KB, f16 N64_C96),
// so shared memory limits them to 2 blocks and the 3-block cap only costs
// K = 15, 17 their 8 B of spills. The bound is per K, not per stride: a GPU
// measurement decides.
constexpr int stream_min_blocks(int K) { return K == 0 || K <= 9 ? 4 : K <= 17 ? 3 : 2; }

template <typename T, int K>
__global__ void __launch_bounds__(kThreads, stream_min_blocks(K)) xsepconv_stream_kernel(const XsStreamParams p) {
  const int k = K > 0 ? K : p.k;
  const int s = p.s;
  XSEP_DYNAMIC_SMEM(smem);

  // Blocks: blockIdx.x = ((n * tiles_c + cb) * chunks + chunk) * strips + strip.
  int b = blockIdx.x;
  const int strip = b % p.strips;
  b /= p.strips;
  const int chunk = b % p.chunks;
  b /= p.chunks;
  const int c0 = (b % p.tiles_c) * p.tile_c;
  const int n = b / p.tiles_c;
  const int tc = p.tile_c, tw = p.tile_w, gr = p.group_rows;
  const int ow0 = strip * tw;
  const int oh_begin = chunk * p.chunk_rows;
  const int oh_end = oh_begin + p.chunk_rows < p.ho ? oh_begin + p.chunk_rows : p.ho;
  const int groups = (oh_end - oh_begin + gr - 1) / gr;
  const int r_lo = s * oh_begin - k / 2, ca = s * ow0 - k / 2;
  const int H = p.in.h, W = p.in.w;

  const XsStreamSmem L = xs_stream_smem(k, s, gr, tw, tc, K == 0);
  float* w1s = smem;               // [k][tc]  (run-time K only)
  float* wks = w1s + k * tc;       // [k][tc]
  float* xr = smem + L.weights;    // x ring [rx][xcols][tc]
  float* t1 = xr + L.xring;        // [nb][c1s][tc]
  float* t2 = t1 + L.t1;           // ring [rr][tws][tc]
  const int xrow_step = L.xcols * tc;
  const int t1row_step = L.c1s * tc;
  const int t2row_step = L.tws * tc;

  const FusedChannel f = fused_channel(p, c0, tc);
  const int cc = f.cc;
  FusedTaps<K> taps;
  taps.load(p.w1xk, p.wkx1, f.c_in ? f.c : 0, w1s + cc, wks + cc, tc);
  if constexpr (K == 0) {
    stage_weights(p.w1xk, k, c0, tc, p.c, w1s);  // read after batch 0's first barrier
    stage_weights(p.wkx1, k, c0, tc, p.c, wks);
  }

  // Each pass's first work group, split once (GroupWalk); copied per batch.
  const GroupWalk rows_walk(f.g0, f.gstep, L.nb), out_walk(f.g0, f.gstep, tw);

  for (int batch = 0; batch < groups + L.prologue; ++batch) {
    const int rel0 = batch * L.nb;  // this batch's first t2 rel row

    // ---- Stage x rel rows first .. rel0+NB+1 into the x ring (at most two runs)
    {
      const int last = rel0 + L.nb + 1;
      int q = batch == 0 ? 0 : rel0 + 2;
      while (q <= last) {
        const int slot = q % L.rx;
        const int run = last - q + 1 < L.rx - slot ? last - q + 1 : L.rx - slot;
        stage_input<T>(p.in, n, c0, tc, r_lo - 1 + q, ca - 1, run, L.xcols, xr + slot * xrow_step);
        q += run;
      }
    }
    __syncthreads();

    // ---- t1 rows rel0 .. rel0+NB-1: 2x2 + E1, kOpt columns per item ----------
    // Group g: row i = g % NB (rows fastest, see the strides above), columns
    // col .. col+kOpt-1 with col = (g / NB) * kOpt.
    // t1(r, col) = sum_ij w[i'][j'] x(r - pt + i', col - pl + j') for rel row
    // r = rel0 + i: x rel row rel0 + i + 1 - pt + i',
    // x ring column col + 1 - pl + j' (column 0 of the ring is x column ca - 1).
    // Rows outside the image (and channels past C) are skipped: their t2 row is
    // zero, which the 1xK pass writes without reading t1 (row_needed below). The
    // walk starts K/2 rows above the image and ends at least K/2 below it (more
    // where the last row groups round up: 20 rows at K = 31, s = 1, 57 output
    // rows and 4-row groups), so at K = 31 on 56 rows the skipped rows are
    // ~35 % of the 2x2 and 1xK work.
    const auto row_needed = [&](int i) {
      const int r = r_lo + rel0 + i;
      return f.c_in && r >= 0 && r < H;
    };
    {
      const int gw = L.c1 / kOpt;
      // x rel row of row i's filter top, xq = rel0 + i + 1 - pt (>= 0), lives in ring
      // slot xq % RX = (xbase + i) % RX, and xbase + i < 2 RX (i < NB < RX).
      const int xbase = (rel0 + 1 - f.pt) % L.rx;
      for (GroupWalk w = rows_walk; w.major < gw; w.next()) {
        const int i = w.minor, col = w.major * kOpt;
        if (!row_needed(i)) continue;
        int slot = xbase + i;
        if (slot >= L.rx) slot -= L.rx;
        const int slot1 = slot + 1 == L.rx ? 0 : slot + 1;
        const float* x0 = xr + slot * xrow_step + (col + 1 - f.pl) * tc + cc;
        const float* x1 = xr + slot1 * xrow_step + (col + 1 - f.pl) * tc + cc;
        t1_segment_regs(x0, x1, tc, f.w2x2, f.e1, ca + col, W, t1 + i * t1row_step + col * tc + cc);
      }
    }
    __syncthreads();

    // ---- t2 rows rel0 .. rel0+NB-1: 1xK + E2 into ring slots (rel % RR) -----
    // Group g: row i = g % NB, output columns oc .. oc+kOpt-1, oc = (g / NB) * kOpt.
    {
      const int gw = tw / kOpt;
      const int tbase = rel0 % L.rr;  // rel row rel0 + i is ring slot (tbase + i) % RR, i < NB <= RR
      for (GroupWalk w = rows_walk; w.major < gw; w.next()) {
        const int i = w.minor, oc = w.major * kOpt;
        const int slot = tbase + i < L.rr ? tbase + i : tbase + i - L.rr;
        float* dst = t2 + slot * t2row_step + oc * tc + cc;
        float acc[kOpt] = {};
        if (row_needed(i)) {
          conv_1xk<K, kOpt>(t1 + i * t1row_step + s * oc * tc + cc, tc, s, k, taps, acc);
          apply_epilogue(f.e2, acc);
        }
#pragma unroll
        for (int o = 0; o < kOpt; ++o) dst[o * tc] = acc[o];
      }
    }
    __syncthreads();

    // ---- Output group go = batch - P: rows oh_begin + go*GR + orow + o, Kx1 + E3.
    // Output row oh_begin + go*GR + orow needs t2 rel rows go*NB + s*orow + (0 .. K-1).
    // Group g: column oc = g % TW (consecutive columns: consecutive banks), rows
    // orow .. orow+kOpt-1, orow = (g / TW) * kOpt.
    if (batch >= L.prologue && f.c_in) {
      const int go = batch - L.prologue;
      const int oh_group = oh_begin + go * gr;
      T* y = static_cast<T*>(p.y);
      // The window's first t2 rel row go*NB + s*orow is ring slot obase + s*orow, wrapped
      // once: s*orow <= s*(GR - kOpt) < NB <= RR.
      const int obase = (go * L.nb) % L.rr;
      for (GroupWalk w = out_walk; w.major < gr / kOpt; w.next()) {
        const int oc = w.minor, orow = w.major * kOpt;
        const int ow = ow0 + oc;
        const int oh = oh_group + orow;
        if (ow >= p.wo || oh >= oh_end) continue;
        const int slot = obase + s * orow < L.rr ? obase + s * orow : obase + s * orow - L.rr;
        float acc[kOpt] = {};
        conv_kx1_ring<K, kOpt>(t2 + oc * tc + cc, t2row_step, slot, L.rr, s, k, taps, acc);
        apply_epilogue(f.e3, acc);
#pragma unroll
        for (int o = 0; o < kOpt; ++o) {
          if (oh + o < oh_end)
            y[out_offset(p.in.nhwc, p.c, p.ho, p.wo, n, f.c, oh + o, ow)] = from_float<T>(acc[o]);
        }
      }
    }
    // No barrier here: the next batch's staging and t1 pass do not touch the t2
    // ring, and its t2 pass comes after two more barriers (see the header).
  }
}

// Picks strip width, channels, rows per group and row chunks, then launches.
// Shared memory: preferably small enough for the blocks per SM that the
// kernel's registers allow (stream_min_blocks; on an H100 4 -> 56 KB, 3 -> 75 KB,
// 2 -> 113 KB; a smaller tile would only cost halo without adding a block),
// with at least 16 columns and a 32-byte sector of channels (NHWC); otherwise
// the largest tile that fits max(that, 96 KB). Both capped at what the device
// allows a block (device_limits.h).
// Mirrored in bench/tile_counts.py (test tile_counts fails when the two differ):
// a change here goes there too.
template <bool kF16, int K>
int launch_xsepconv_stream(const XsArgs& a, cudaStream_t stream) {
  using T = typename std::conditional<kF16, __half, float>::type;
  const int esz = int(sizeof(T));
  int vec = staging_vec(a.x, a.nhwc, a.c, esz);
  DeviceLimits dev;
  if (int e = current_device_limits(&dev)) return e;

  // Rows per group: enough output items (GR/kOpt x TW x tc) for 256 threads,
  // at most 32 / stride (NB <= 32 t2 rows per batch) and no more than the image has.
  auto group_rows = [&](int tw, int tc) {
    int gr = kOpt;
    while (gr < 32 / a.stride && (gr / kOpt) * tw * tc < kThreads) gr *= 2;
    return std::min(gr, round_up(a.ho, kOpt));
  };
  // The strip width actually used: the output width split evenly into strips.
  auto balanced = [&](int tw_max) { return round_up(ceil_div(a.wo, ceil_div(a.wo, tw_max)), kOpt); };
  auto bytes = [&](int tw_max, int tc) {
    const int tw = balanced(tw_max);
    return size_t(xs_stream_smem(a.k, a.stride, group_rows(tw, tc), tw, tc, K == 0).floats) * 4;
  };

  const int tc_start = a.nhwc ? std::min(round_up(a.c, vec), 32) : 1;
  const int tw_start = std::min(round_up(a.wo, kOpt), a.nhwc ? 64 : 128);
  int tc = tc_start, tw_max = tw_start;
  // Halves tc down to tc_floor, then the strip down to tw_floor, until it fits.
  auto shrink = [&](size_t budget, int tc_floor, int tw_floor) {
    while (bytes(tw_max, tc) > budget) {
      if (tc > tc_floor) {
        tc = std::max(tc_floor, tc / 2);
        if (tc % vec != 0) vec = 1;
      } else if (tw_max > tw_floor) {
        tw_max = std::max(tw_floor, round_up(tw_max / 2, kOpt));
      } else {
        return false;
      }
    }
    return true;
  };
  const int sector_tc = a.nhwc ? std::min(tc_start, std::max(vec, 32 / esz)) : 1;
  const int vec_start = vec;
  const size_t preferred = dev.smem_for_blocks(stream_min_blocks(K));
  const size_t largest = std::min(std::max<size_t>(preferred, 96 * 1024), dev.smem_per_block);
  if (!shrink(preferred, sector_tc, std::min(16, tw_start))) {
    if (largest > preferred) {  // else the same search again would end where this one did
      tc = tc_start;
      tw_max = tw_start;
      vec = vec_start;
      shrink(largest, sector_tc, std::min(16, tw_start));
    }
    if (!shrink(largest, 1, kOpt)) return kErrorNoTileFits;
  }
  const int tw = balanced(tw_max);
  const int gr = group_rows(tw, tc);
  const XsStreamSmem L = xs_stream_smem(a.k, a.stride, gr, tw, tc, K == 0);

  // Row chunks. The blocks are equal, so the grid runs in waves of SMs x
  // per_sm blocks, and a partial last wave idles SMs (768 blocks at 4 per SM
  // are 1.45 waves, paid as 2). Splitting the rows into chunks multiplies the
  // blocks and shortens each, but every chunk re-computes its P prologue
  // batches (P*NB leading t2 rows; a chunk keeps at least max(1, P) groups).
  // The chunk count minimises waves x batches per block; ties keep fewer.
  const int strips = ceil_div(a.wo, tw), tiles_c = ceil_div(a.c, tc);
  const long long base_blocks = 1LL * a.n * tiles_c * strips;
  const size_t smem = size_t(L.floats) * 4;
  const int per_sm = std::max(1, std::min(stream_min_blocks(K), int(dev.smem_per_sm / (smem + dev.smem_reserved))));
  const long long slots = 1LL * dev.sm_count * per_sm;
  const int max_chunks = std::min(ceil_div(a.ho, gr * std::max(1, L.prologue)), 64);
  int chunks = 1, chunk_rows = round_up(a.ho, gr);
  long long best = -1;
  for (int want = 1; want <= max_chunks; ++want) {
    const int rows = round_up(ceil_div(a.ho, want), gr);
    const int got = ceil_div(a.ho, rows);
    const long long cost = (base_blocks * got + slots - 1) / slots * (rows / gr + L.prologue);
    if (best < 0 || cost < best) best = cost, chunks = got, chunk_rows = rows;
  }

  XsStreamParams p;
  fill_xsepconv_params(p, a, vec);
  p.tile_w = tw;
  p.tile_c = tc;
  p.group_rows = gr;
  p.chunk_rows = chunk_rows;
  p.strips = strips;
  p.tiles_c = tiles_c;
  p.chunks = chunks;
  const long long blocks = base_blocks * chunks;
  if (blocks > 0x7fffffffLL) return static_cast<int>(cudaErrorInvalidConfiguration);
  log_launch("xsepconv_stream kernel_k=%d k=%d s=%d dtype=%s layout=%s n=%d c=%d h=%d w=%d "
             "tile_w=%d tile_c=%d group_rows=%d chunk_rows=%d chunks=%d prologue=%d vec=%d blocks=%lld smem=%zu "
             "sms=%d smem_sm=%zu smem_block=%zu smem_reserved=%zu",
             K, a.k, a.stride, kF16 ? "f16" : "f32", a.nhwc ? "nhwc" : "nchw", a.n, a.c, a.h, a.w, tw, tc, gr,
             chunk_rows, chunks, L.prologue, vec, blocks, size_t(L.floats) * 4, dev.sm_count, dev.smem_per_sm,
             dev.smem_per_block, dev.smem_reserved);
  return static_cast<int>(launch_kernel(&xsepconv_stream_kernel<T, K>, dim3(static_cast<unsigned>(blocks)),
                                        dim3(kThreads), size_t(L.floats) * 4, stream, p));
}

}  // namespace xsep::kernels
