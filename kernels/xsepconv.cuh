// The fused XSepConv block (SPEC 2.5) in one kernel:
//   t1 = E1(dw2x2_dir(x)),  t2 = E2(1xK_s(t1)),  y = E3(Kx1_s(t2)).
// x is read once into shared memory, t1 and t2 live only in shared memory
// (float32, also for float16 I/O), y is written once.
//
// Index math for a block whose output tile starts at (oh0, ow0), with
// s = stride, K = k, tile_h x tile_w outputs (multiples of kOpt):
//   y(oh, ow)  needs t2 rows s*oh - K/2 + i        -> rows ra .. ra+R-1,
//              ra = s*oh0 - K/2, R = s*(tile_h-1) + K
//   t2(r, ow)  needs t1 cols s*ow - K/2 + j        -> cols ca .. ca+C1-1,
//              ca = s*ow0 - K/2, C1 = s*(tile_w-1) + K rounded up to kOpt
//   t1(r, c)   needs x rows r-1 .. r+1, cols c-1 .. c+1 (the direction picks two
//              of each) -> the x window is (R+2) x (C1+2) starting at (ra-1, ca-1)
//              (staged as (R+2) x (C1+3): see the row pitches below).
// Outside the image t2 is zero: the intermediates' own zero padding, which is
// not the same as evaluating the 2x2 or 1xK filter there. Those t2 rows are
// written as zeros and their t1 rows are never computed (nothing reads them).
#pragma once

#include "device_limits.h"
#include "launch.h"
#include "stage.cuh"
#include "tiling.h"
#include "xsepconv_common.cuh"

namespace xsep::kernels {

struct XsParams {
  InputView in;
  void* y;
  const float* w2x2;
  const float* w1xk;
  const float* wkx1;
  Epilogue e1, e2, e3;
  int c, ho, wo;
  int k, s;
  int pad_top, pad_left, symmetric;
  int tile_h, tile_w, tile_c;
  int tiles_h, tiles_w, tiles_c;
};

// Shared memory, in floats: for the run-time-K kernel the taps [2K][tile_c] (a
// compile-time K keeps them in registers: no region); t1 [R][C1S][tile_c]; then
// one region holding first the x window [R+2][XC][tile_c] and, once t1 is
// computed and the window is dead, t2 [R][TWS][tile_c].
// Row pitches are odd multiples of tile_c: XC = C1 + 3 x columns (C1 + 2 are
// read; the last is staged only to make the count odd), C1S = C1 + 1,
// TWS = tile_w + 1. Passes 1 and 2 give a warp's 32/tile_c groups consecutive
// rows, and rows an odd multiple of tile_c apart start in distinct banks when
// tile_c is a power of two below 32 (the same argument as xsepconv_stream.cuh).
// Except where a warp's groups wrap from row R-1 to row 0 of the next column
// group: with R not a multiple of 32/tile_c those warps still see 2-way conflicts.
struct XsSmem {
  int weights, rows, c1, c1s, tws, t1, xrows, xcols, region, floats;
};
inline __host__ __device__ XsSmem xs_smem(int k, int s, int th, int tw, int tc, bool smem_taps) {
  XsSmem m;
  m.weights = smem_taps ? (2 * k * tc + 3) / 4 * 4 : 0;
  m.rows = s * (th - 1) + k;
  m.c1 = (s * (tw - 1) + k + kOpt - 1) / kOpt * kOpt;
  m.c1s = m.c1 + 1;
  m.tws = tw + 1;
  m.t1 = (m.rows * m.c1s * tc + 3) / 4 * 4;  // the window after it starts 16-byte aligned
  m.xrows = m.rows + 2;
  m.xcols = m.c1 + 3;
  const int window = m.xrows * m.xcols * tc, t2 = m.rows * m.tws * tc;
  m.region = window > t2 ? window : t2;
  m.floats = m.weights + m.t1 + m.region;
  return m;
}

template <typename T, int K>
__global__ void __launch_bounds__(kThreads) xsepconv_kernel(const XsParams p) {
  const int k = K > 0 ? K : p.k;
  const int s = p.s;
  XSEP_DYNAMIC_SMEM(smem);

  const TileOrigin t0 = tile_origin(p.tiles_h, p.tiles_w, p.tiles_c, p.tile_h, p.tile_w, p.tile_c);
  const int n = t0.n, c0 = t0.c0, oh0 = t0.oh0, ow0 = t0.ow0;
  const int tc = p.tile_c;
  const int ra = s * oh0 - k / 2, ca = s * ow0 - k / 2;
  const int H = p.in.h, W = p.in.w;

  const XsSmem L = xs_smem(k, s, p.tile_h, p.tile_w, tc, K == 0);
  float* w1s = smem;             // [k][tc]  (run-time K only)
  float* wks = w1s + k * tc;     // [k][tc]
  float* t1 = smem + L.weights;  // [rows][c1s][tc]
  float* xw = t1 + L.t1;         // x window [xrows][xcols][tc]
  float* t2 = xw;                // later: [rows][tws][tc]
  const int t1row_step = L.c1s * tc, t2row_step = L.tws * tc;
  if constexpr (K == 0) {
    stage_weights(p.w1xk, k, c0, tc, p.c, w1s);
    stage_weights(p.wkx1, k, c0, tc, p.c, wks);
  }
  stage_input<T>(p.in, n, c0, tc, ra - 1, ca - 1, L.xrows, L.xcols, xw);
  // The thread's channel (fixed: cc = tid % tc), its parameters and taps, loaded
  // while the staging loads are in flight.
  const FusedChannel f = fused_channel(p, c0, tc);
  const int cc = f.cc;
  FusedTaps<K> taps;
  taps.load(p.w1xk, p.wkx1, f.c_in ? f.c : 0, w1s + cc, wks + cc, tc);
  __syncthreads();

  // ---- Pass 1: t1(r, col) = E1(2x2 conv), kOpt columns per group -----------
  // Group g: row r = g % R (rows fastest, see the pitches above), columns
  // col .. col+kOpt-1 with col = (g / R) * kOpt.
  // Direction (pad_top pt, pad_left pl): t1(r, col) = sum_ij w[i][j] x(r - pt + i, col - pl + j),
  // which sits at window row r + 1 - pt + i, column col + 1 - pl + j.
  // Rows outside the image (and channels past C) are skipped: their t2 row is
  // zero, which pass 2 writes without reading t1 (row_needed).
  const auto row_needed = [&](int r) { return f.c_in && ra + r >= 0 && ra + r < H; };
  {
    const int gw = L.c1 / kOpt;
    const int xrow_step = L.xcols * tc;
    for (int g = f.g0; g < L.rows * gw; g += f.gstep) {
      const int r = g % L.rows, col = (g / L.rows) * kOpt;
      if (!row_needed(r)) continue;
      const float* x0 = xw + (r + 1 - f.pt) * xrow_step + (col + 1 - f.pl) * tc + cc;
      t1_segment_regs(x0, x0 + xrow_step, tc, f.w2x2, f.e1, ca + col, W, t1 + r * t1row_step + col * tc + cc);
    }
  }
  __syncthreads();

  // ---- Pass 2: t2(r, oc) = E2(sum_j w1xk[j] t1(r, s*oc + j)), kOpt columns per group
  // Group g: row r = g % R, columns oc .. oc+kOpt-1 with oc = (g / R) * kOpt.
  {
    const int gw = p.tile_w / kOpt;
    for (int g = f.g0; g < L.rows * gw; g += f.gstep) {
      const int r = g % L.rows, oc = (g / L.rows) * kOpt;
      float* dst = t2 + r * t2row_step + oc * tc + cc;
      float acc[kOpt] = {};
      if (row_needed(r)) {
        conv_1xk<K, kOpt>(t1 + r * t1row_step + s * oc * tc + cc, tc, s, k, taps, acc);
        apply_epilogue(f.e2, acc);
      }
#pragma unroll
      for (int o = 0; o < kOpt; ++o) dst[o * tc] = acc[o];
    }
  }
  __syncthreads();

  // ---- Pass 3: y(or, oc) = E3(sum_i wkx1[i] t2(s*or + i, oc)), kOpt rows per group
  // Group g: column oc = g % tile_w (consecutive columns: consecutive banks),
  // rows orow .. orow+kOpt-1 with orow = (g / tile_w) * kOpt.
  if (f.c_in) {
    const int gh = p.tile_h / kOpt;
    const int row_step = t2row_step;
    T* y = static_cast<T*>(p.y);
    for (int g = f.g0; g < gh * p.tile_w; g += f.gstep) {
      const int oc = g % p.tile_w, orow = (g / p.tile_w) * kOpt;
      const int ow = ow0 + oc;
      if (ow >= p.wo || oh0 + orow >= p.ho) continue;
      float acc[kOpt] = {};
      conv_kx1<K, kOpt>(t2 + (s * orow) * row_step + oc * tc + cc, row_step, s, k, taps, acc);
      apply_epilogue(f.e3, acc);
#pragma unroll
      for (int o = 0; o < kOpt; ++o) {
        const int oh = oh0 + orow + o;
        if (oh < p.ho)
          y[out_offset(p.in.nhwc, p.c, p.ho, p.wo, n, f.c, oh, ow)] = from_float<T>(acc[o]);
      }
    }
  }
}

// Picks the tile and launches. Budget: 96 KB of shared memory per block (two
// blocks per H100 SM), or what the device allows a block if that is less; the
// fused block needs room for x, t1 and t2.
// Mirrored in bench/tile_counts.py (test tile_counts fails when the two differ):
// a change here goes there too.
template <bool kF16, int K>
int launch_xsepconv(const XsArgs& a, cudaStream_t stream) {
  using T = typename std::conditional<kF16, __half, float>::type;
  const int vec = staging_vec(a.x, a.nhwc, a.c, int(sizeof(T)));
  DeviceLimits dev;
  if (int e = current_device_limits(&dev)) return e;
  const size_t budget = std::min<size_t>(96 * 1024, dev.smem_per_block);

  Tile t;
  if (!a.nhwc) {
    t = Tile{std::min(round_up(a.ho, kOpt), 32), std::min(round_up(a.wo, kOpt), 32), 1, 1};
  } else {
    t = Tile{std::min(round_up(a.ho, kOpt), 8), std::min(round_up(a.wo, kOpt), 8),
             std::min(round_up(a.c, vec), 32), vec};
  }
  auto bytes = [&](const Tile& tt) {
    return size_t(xs_smem(a.k, a.stride, tt.h, tt.w, tt.c, K == 0).floats) * 4;
  };
  t = balance_rows(shrink_to_fit(t, kOpt, kOpt, budget, bytes), a.ho, kOpt);
  const size_t smem = bytes(t);
  if (smem > budget) return kErrorNoTileFits;

  XsParams p;
  fill_xsepconv_params(p, a, t.vec);
  p.tile_h = t.h;
  p.tile_w = t.w;
  p.tile_c = t.c;
  p.tiles_h = ceil_div(a.ho, t.h);
  p.tiles_w = ceil_div(a.wo, t.w);
  p.tiles_c = ceil_div(a.c, t.c);
  // At most the output count (<= 2^31-1, validated): every tile holds an output.
  const long long blocks = 1LL * a.n * p.tiles_c * p.tiles_h * p.tiles_w;
  log_launch("xsepconv_tiled kernel_k=%d k=%d s=%d dtype=%s layout=%s n=%d c=%d h=%d w=%d "
             "tile_h=%d tile_w=%d tile_c=%d vec=%d blocks=%lld smem=%zu "
             "sms=%d smem_sm=%zu smem_block=%zu smem_reserved=%zu",
             K, a.k, a.stride, kF16 ? "f16" : "f32", a.nhwc ? "nhwc" : "nchw", a.n, a.c, a.h, a.w, t.h, t.w, t.c,
             t.vec, blocks, smem, dev.sm_count, dev.smem_per_sm, dev.smem_per_block, dev.smem_reserved);
  return static_cast<int>(launch_kernel(&xsepconv_kernel<T, K>, dim3(static_cast<unsigned>(blocks)),
                                        dim3(kThreads), smem, stream, p));
}

}  // namespace xsep::kernels
