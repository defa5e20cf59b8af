// One depthwise pass with a KH x KW filter, any stride and offset: the kernel
// behind xsep_dwconv2x2, xsep_dwconv1xk, xsep_dwconvkx1 and xsep_dwconvkxk.
//
// A block computes a tile of tile_h x tile_w outputs for tile_c channels of one
// image. It stages the input window the tile reads in shared memory (once,
// coalesced, zero padded by predication). Each thread keeps one channel and
// holds its taps in registers (filters of up to 25 taps; 7x7, 9x9 and the
// run-time K stage them in shared memory instead). It computes kOpt consecutive
// outputs of its channel along H or W (dw_along_h), reusing every loaded value
// across the taps (conv_line_regs / conv_line), applies the epilogue and
// writes y once.
#pragma once

#include "conv_window.cuh"
#include "device_limits.h"
#include "epilogue.cuh"
#include "launch.h"
#include "stage.cuh"
#include "tiling.h"

namespace xsep::kernels {

struct DwParams {
  InputView in;
  void* y;
  const float* w;
  Epilogue ep;
  int c, ho, wo;
  int kh, kw, sh, sw;  // run-time copies of the filter shape (used when KH / KW == 0)
  int pad_top, pad_left;
  int symmetric;
  int tile_h, tile_w, tile_c;  // the blocked axis' extent is a multiple of kOpt
  int tiles_h, tiles_w, tiles_c;
};

// The axis a thread's kOpt outputs run along. H for Kx1 filters, and in NCHW
// for every filter with more than one row (2x2, KxK): a warp's lanes then take
// consecutive output columns, i.e. consecutive shared-memory words at stride 1,
// where along W they sat kOpt * stride words apart (2-4-way bank conflicts in
// NCHW, bench/NOTES.md item 8). Either axis loads S*(kOpt-1)+K values per
// filter line for kOpt outputs. W for 1xK (no reuse along H) and in NHWC, where
// lanes are channels and conflict-free either way. Host and device agree on it.
inline __host__ __device__ bool dw_along_h(int kh, int kw, bool nhwc) { return kh > 1 && (kw == 1 || !nhwc); }

// Filters whose taps a thread keeps in registers: compile-time shapes of at
// most 25 taps (2x2, 1xK and Kx1 up to K = 9, 3x3, 5x5). 7x7, 9x9 and the
// run-time-K kernel read them from shared memory.
template <int KH, int KW>
constexpr bool kDwRegisterTaps = KH > 0 && KW > 0 && KH * KW <= 25;

// Shared memory: weights [taps][tile_c] (only when the taps are not in
// registers), then the input window [rows][cols][tile_c]. SYMMETRIC stages one
// more row and column (above and to the left) so that every channel's
// direction finds its taps on chip.
struct DwSmem {
  int weights, rows, cols, floats;
};
inline __host__ __device__ DwSmem dw_smem(int kh, int kw, int sh, int sw, int symmetric, int th,
                                          int tw, int tc, bool smem_taps) {
  DwSmem s;
  s.weights = smem_taps ? (kh * kw * tc + 3) / 4 * 4 : 0;  // keep the window 16-byte aligned
  s.rows = sh * (th - 1) + kh + symmetric;
  s.cols = sw * (tw - 1) + kw + symmetric;
  s.floats = s.weights + s.rows * s.cols * tc;
  return s;
}

template <typename T, int KH, int KW>
__global__ void __launch_bounds__(kThreads) dwconv_kernel(const DwParams p) {
  const int kh = KH > 0 ? KH : p.kh;
  const int kw = KW > 0 ? KW : p.kw;
  const bool along_h = dw_along_h(kh, kw, p.in.nhwc);
  XSEP_DYNAMIC_SMEM(smem);

  const TileOrigin t0 = tile_origin(p.tiles_h, p.tiles_w, p.tiles_c, p.tile_h, p.tile_w, p.tile_c);
  const int n = t0.n, c0 = t0.c0, oh0 = t0.oh0, ow0 = t0.ow0;
  const int tc = p.tile_c;

  // Output (oh, ow), tap (i, j) reads x(sh*oh - pad_top + i, sw*ow - pad_left + j).
  // The window starts at the tile's first tap; SYMMETRIC stages as if
  // pad_top = pad_left = 1 and shifts channels with a 0 pad by one (dt, dl).
  const int pt = p.symmetric ? 1 : p.pad_top;
  const int pl = p.symmetric ? 1 : p.pad_left;
  constexpr bool kRegTaps = kDwRegisterTaps<KH, KW>;
  const DwSmem L = dw_smem(kh, kw, p.sh, p.sw, p.symmetric, p.tile_h, p.tile_w, tc, !kRegTaps);
  float* wts = smem;
  float* win = smem + L.weights;
  if constexpr (!kRegTaps) stage_weights(p.w, kh * kw, c0, tc, p.c, wts);
  stage_input<T>(p.in, n, c0, tc, oh0 * p.sh - pt, ow0 * p.sw - pl, L.rows, L.cols, win);

  // The thread's channel is fixed: cc = tid % tc; its groups are g0, g0 + gstep, ...
  // (threads past gstep * tc, only when tc does not divide the block, stage only).
  // Its direction shift, epilogue and (kRegTaps) taps are loaded once, while the
  // staging loads are in flight.
  const ThreadChannel tch = thread_channel(tc);
  const int cc = tch.cc, g0 = tch.g0, gstep = tch.gstep;
  const int c = c0 + cc;
  const bool c_in = c < p.c;
  const int cs = c_in ? c : 0;
  int dt = 0, dl = 0;
  if (p.symmetric) {
    int ptc, plc;
    symmetric_pads(cs, p.c, &ptc, &plc);
    dt = 1 - ptc;
    dl = 1 - plc;
  }
  const ChannelEpilogue ep = channel_epilogue(p.ep, cs);
  constexpr int kRows = kRegTaps ? KH : 1, kCols = kRegTaps ? KW : 1;
  float wr[kRows][kCols];  // tap (i, j)
  if constexpr (kRegTaps) {
#pragma unroll
    for (int i = 0; i < KH; ++i)
#pragma unroll
      for (int j = 0; j < KW; ++j) wr[i][j] = p.w[(cs * KH + i) * KW + j];
  }
  __syncthreads();
  if (!c_in) return;  // no barrier follows

  // Group = kOpt outputs of the channel: (gy, gx), gx fastest. NHWC with
  // tc = 32: a warp's threads read consecutive shared words (its channels).
  // NCHW along H: consecutive columns, consecutive words (stride 1). NHWC with
  // tc = 8 along W: neighbouring groups kOpt * stride columns apart, 2-way
  // conflicts (bench/NOTES.md item 8).
  const int gh = along_h ? p.tile_h / kOpt : p.tile_h;
  const int gw = along_h ? p.tile_w : p.tile_w / kOpt;
  const int row_step = L.cols * tc;  // one window row, in floats
  T* y = static_cast<T*>(p.y);
  for (int g = g0; g < gh * gw; g += gstep) {
    const int gx = g % gw, gy = g / gw;
    const int r = along_h ? gy * kOpt : gy;  // first output's row in the tile
    const int q = along_h ? gx : gx * kOpt;  // and column
    if (oh0 + r >= p.ho || ow0 + q >= p.wo) continue;
    float acc[kOpt] = {};
    const float* base = win + (p.sh * r + dt) * row_step + (p.sw * q + dl) * tc + cc;
    if constexpr (kRegTaps) {
      if (along_h) {  // filter column j: its KH taps down H, for kOpt rows
#pragma unroll
        for (int j = 0; j < KW; ++j) {
          float col[KH];
#pragma unroll
          for (int i = 0; i < KH; ++i) col[i] = wr[i][j];
          conv_line_regs<KH, kOpt>(base + j * tc, row_step, p.sh, col, acc);
        }
      } else {
#pragma unroll
        for (int i = 0; i < KH; ++i) conv_line_regs<KW, kOpt>(base + i * row_step, tc, p.sw, wr[i], acc);
      }
    } else {
      const float* wc = wts + cc;  // tap t of this channel at wc[t * tc]; tap (i, j) is t = i * kw + j
      if (along_h) {
        for (int j = 0; j < kw; ++j)
          conv_line<KH, kOpt>(base + j * tc, row_step, p.sh, kh, wc + j * tc, kw * tc, acc);
      } else {
        for (int i = 0; i < kh; ++i)
          conv_line<KW, kOpt>(base + i * row_step, tc, p.sw, kw, wc + i * kw * tc, tc, acc);
      }
    }
    apply_epilogue(ep, acc);
#pragma unroll
    for (int o = 0; o < kOpt; ++o) {
      const int oh = oh0 + r + (along_h ? o : 0);
      const int ow = ow0 + q + (along_h ? 0 : o);
      if (oh < p.ho && ow < p.wo) y[out_offset(p.in.nhwc, p.c, p.ho, p.wo, n, c, oh, ow)] = from_float<T>(acc[o]);
    }
  }
}

// Picks the tile and launches. Budget: 48 KB of shared memory per block, so no
// opt-in is needed and several blocks share an SM.
template <bool kF16, int KH, int KW>
int launch_dwconv(const DwArgs& a, cudaStream_t stream) {
  using T = typename std::conditional<kF16, __half, float>::type;
  const bool along_h = dw_along_h(a.kh, a.kw, a.nhwc);
  const int vec = staging_vec(a.x, a.nhwc, a.c, int(sizeof(T)));
  DeviceLimits dev;
  if (int e = current_device_limits(&dev)) return e;
  // 48 KB: what every CUDA card gives a block without opting in.
  const size_t budget = std::min<size_t>(48 * 1024, dev.smem_per_block);

  // Preferred tiles: NCHW walks one channel plane with a wide strip (coalesced
  // along W); NHWC takes 32 channels (a 128-byte float / 64-byte half row) of a
  // small spatial patch.
  Tile t;
  if (!a.nhwc) {
    t = along_h ? Tile{std::min(round_up(a.ho, kOpt), 32), std::min(a.wo, 32), 1, 1}
                : Tile{std::min(a.ho, 16), std::min(round_up(a.wo, kOpt), 64), 1, 1};
  } else {
    const int tc = std::min(round_up(a.c, vec), 32);
    t = along_h ? Tile{std::min(round_up(a.ho, kOpt), 8), std::min(a.wo, 4), tc, vec}
                : Tile{std::min(a.ho, 4), std::min(round_up(a.wo, kOpt), 8), tc, vec};
  }
  const int symmetric = a.symmetric ? 1 : 0;
  auto bytes = [&](const Tile& tt) {
    return size_t(dw_smem(a.kh, a.kw, a.sh, a.sw, symmetric, tt.h, tt.w, tt.c, !kDwRegisterTaps<KH, KW>).floats) * 4;
  };
  t = balance_rows(shrink_to_fit(t, along_h ? kOpt : 1, along_h ? 1 : kOpt, budget, bytes), a.ho,
                   along_h ? kOpt : 1);
  const size_t smem = bytes(t);
  if (smem > budget) return kErrorNoTileFits;

  DwParams p;
  p.in = InputView{a.x, a.c, a.h, a.w, a.nhwc, t.vec};
  p.y = a.y;
  p.w = a.weights;
  p.ep = Epilogue{a.ep.scale, a.ep.bias, static_cast<int>(a.ep.act)};
  p.c = a.c;
  p.ho = a.ho;
  p.wo = a.wo;
  p.kh = a.kh;
  p.kw = a.kw;
  p.sh = a.sh;
  p.sw = a.sw;
  p.pad_top = a.pad_top;
  p.pad_left = a.pad_left;
  p.symmetric = symmetric;
  p.tile_h = t.h;
  p.tile_w = t.w;
  p.tile_c = t.c;
  p.tiles_h = ceil_div(a.ho, t.h);
  p.tiles_w = ceil_div(a.wo, t.w);
  p.tiles_c = ceil_div(a.c, t.c);
  // At most the output count (<= 2^31-1, validated): every tile holds an output.
  const long long blocks = 1LL * a.n * p.tiles_c * p.tiles_h * p.tiles_w;
  log_launch("dwconv kernel_kh=%d kernel_kw=%d kh=%d kw=%d sh=%d sw=%d dtype=%s layout=%s n=%d c=%d h=%d w=%d "
             "tile_h=%d tile_w=%d tile_c=%d vec=%d blocks=%lld smem=%zu",
             KH, KW, a.kh, a.kw, a.sh, a.sw, kF16 ? "f16" : "f32", a.nhwc ? "nhwc" : "nchw", a.n, a.c, a.h, a.w,
             t.h, t.w, t.c, t.vec, blocks, smem);
  return static_cast<int>(launch_kernel(&dwconv_kernel<T, KH, KW>,
                                        dim3(static_cast<unsigned>(blocks)), dim3(kThreads),
                                        smem, stream, p));
}

}  // namespace xsep::kernels
