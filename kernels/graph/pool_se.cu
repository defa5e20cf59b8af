// Global average pooling and the squeeze-and-excitation block's two small
// fully-connected layers (graph_kernels.h: global_avg_pool, se_fc).
#include <cstdlib>

#include "../device_limits.h"
#include "graph_common.cuh"

namespace xsep::kernels::graph {
namespace {

// ---- Global average pooling -------------------------------------------------
// A block reduces `cc` channels of one image with `pl` lanes each (cc * pl =
// 256, pl a power of two): lane l sums pixels l, l + pl, ... in float, then the
// lanes of a channel are added by a tree in shared memory. The thread mapping
// follows the memory order: channels fastest when channels are contiguous
// (NHWC), lanes (pixels) fastest otherwise (NCHW).
struct GapParams {
  const void* x;
  int64_t x_n, x_c, x_p;
  void* y;
  int64_t y_n, y_c;
  int c, hw;
  int cc, pl;   // channels per block, lanes per channel
  int cblocks;  // blocks per image
  float inv_hw;
  bool chan_fast, x_f16, y_f16;
};

__global__ void __launch_bounds__(kThreads) gap_kernel(const GapParams p) {
  XSEP_DYNAMIC_SMEM(red);  // [cc][pl]
  const int tid = static_cast<int>(threadIdx.x);
  const int cb = static_cast<int>(blockIdx.x) % p.cblocks;
  const int n = static_cast<int>(blockIdx.x) / p.cblocks;
  const int cl = p.chan_fast ? tid % p.cc : tid / p.pl;
  const int lane = p.chan_fast ? tid / p.cc : tid % p.pl;
  const int c = cb * p.cc + cl;
  float s = 0.f;
  if (c < p.c) {
    const int64_t base = n * p.x_n + c * p.x_c;
    // int64: hw may be up to 2^31-1, and q + pl must not overflow.
    for (int64_t q = lane; q < p.hw; q += p.pl) s += load_act(p.x, base + q * p.x_p, p.x_f16);
  }
  float* mine = red + cl * p.pl;
  mine[lane] = s;
  __syncthreads();
  for (int w = p.pl / 2; w > 0; w /= 2) {  // uniform trip count
    if (lane < w) mine[lane] += mine[lane + w];
    __syncthreads();
  }
  if (lane == 0 && c < p.c) store_act(p.y, n * p.y_n + c * p.y_c, p.y_f16, mine[0] * p.inv_hw);
}

int pow2_ceil(int v) {
  int p = 1;
  while (p < v && p < (1 << 30)) p *= 2;
  return p;
}

// ---- SE fully-connected layers ------------------------------------------------
// One block per image: g_n is staged in shared memory, h = act1(W1 g_n + b1)
// is computed into shared memory, then s_n = act2(W2 h + b2) is written.
// Each mat-vec gives every row `lanes` threads (consecutive threads read
// consecutive weights of a row, coalesced) and 256 / lanes rows per pass; a
// row's partial sums meet in shared memory and one thread adds them.
struct SeParams {
  const void* g;
  const float *w1, *b1, *w2, *b2;
  void* s;
  int c, mid;
  int lanes1, lanes2;  // powers of two dividing 256
  Act act1, act2;
  bool g_f16, s_f16;
};

// out(r, act(bias[r] + sum_k W[r][k] v[k])) for r < rows; v in shared memory;
// red: 256 floats of scratch. Ends with a barrier (out's shared writes visible).
template <typename Out>
__device__ __forceinline__ void block_matvec(const float* W, int rows, int cols, const float* v,
                                             const float* bias, const Act& act, int lanes,
                                             float* red, Out out) {
  const int tid = static_cast<int>(threadIdx.x);
  const int rows_per_pass = kThreads / lanes;
  const int lane = tid % lanes, rl = tid / lanes;
  for (int r0 = 0; r0 < rows; r0 += rows_per_pass) {  // uniform trip count
    const int r = r0 + rl;
    float s = 0.f;
    if (r < rows) {
      const float* wr = W + r * cols;
      for (int k = lane; k < cols; k += lanes) s = fmaf(__ldg(wr + k), v[k], s);
    }
    red[tid] = s;
    __syncthreads();
    if (tid < rows_per_pass && r0 + tid < rows) {
      float t = bias != nullptr ? __ldg(bias + r0 + tid) : 0.f;
      const float* part = red + tid * lanes;
      for (int l = 0; l < lanes; ++l) t += part[l];
      out(r0 + tid, apply_act(act, t));
    }
    __syncthreads();
  }
}

__global__ void __launch_bounds__(kThreads) se_fc_kernel(const SeParams p) {
  XSEP_DYNAMIC_SMEM(smem);
  float* gs = smem;            // [c]
  float* hs = smem + p.c;      // [mid]
  float* red = hs + p.mid;     // [256]
  const int n = static_cast<int>(blockIdx.x);
  const int64_t row = int64_t{n} * p.c;
  for (int i = static_cast<int>(threadIdx.x); i < p.c; i += kThreads)
    gs[i] = load_act(p.g, row + i, p.g_f16);
  __syncthreads();
  block_matvec(p.w1, p.mid, p.c, gs, p.b1, p.act1, p.lanes1, red,
               [&](int r, float v) { hs[r] = v; });
  block_matvec(p.w2, p.c, p.mid, hs, p.b2, p.act2, p.lanes2, red,
               [&](int r, float v) { store_act(p.s, row + r, p.s_f16, v); });
}

// Lanes per row of a rows x cols mat-vec: enough rows per pass to keep the
// block busy, at least 8 lanes (a 32-byte sector of a row) when the row has
// them, never more lanes than columns.
int matvec_lanes(int rows, int cols) {
  const int most = pow2_ceil(cols) < kThreads ? pow2_ceil(cols) : kThreads;
  const int least = most < 8 ? most : 8;
  const int pr = pow2_ceil(rows);
  int lanes = pr >= kThreads ? 1 : kThreads / pr;
  if (lanes < least) lanes = least;
  if (lanes > most) lanes = most;
  return lanes;
}

}  // namespace

XSEP_GRAPH_EXPORT int global_avg_pool(const GapArgs& a, cudaStream_t stream) {
  if (a.n < 0 || a.c < 0 || a.hw < 1) return kInvalid;
  if (a.n == 0 || a.c == 0) return 0;
  if (a.x.data == nullptr || a.y == nullptr) return kInvalid;
  GapParams p{};
  p.x = a.x.data;
  p.x_n = a.x_n, p.x_c = a.x_c, p.x_p = a.x_p;
  p.y = a.y;
  p.y_n = a.y_n, p.y_c = a.y_c;
  p.c = a.c;
  p.hw = a.hw;
  p.inv_hw = 1.f / static_cast<float>(a.hw);
  p.x_f16 = a.x.f16;
  p.y_f16 = a.y_f16;
  p.chan_fast = std::llabs(a.x_c) < std::llabs(a.x_p);
  if (p.chan_fast) {
    p.cc = pow2_ceil(a.c) < 32 ? pow2_ceil(a.c) : 32;
    p.pl = kThreads / p.cc;
  } else {
    p.pl = pow2_ceil(a.hw) < kThreads ? pow2_ceil(a.hw) : kThreads;
    p.cc = kThreads / p.pl;
  }
  p.cblocks = static_cast<int>(div_up64(a.c, p.cc));
  const int64_t blocks = int64_t{a.n} * p.cblocks;
  if (blocks > kMaxGridBlocks) return kInvalid;
  return static_cast<int>(launch_kernel(&gap_kernel, dim3(static_cast<unsigned>(blocks)),
                                        dim3(kThreads), kThreads * sizeof(float), stream, p));
}

XSEP_GRAPH_EXPORT int se_fc(const SeArgs& a, cudaStream_t stream) {
  if (a.n < 0 || a.c < 0 || a.mid < 1) return kInvalid;
  if (a.n == 0 || a.c == 0) return 0;
  if (a.g.data == nullptr || a.w1 == nullptr || a.w2 == nullptr || a.s == nullptr)
    return kInvalid;
  if (int64_t{a.n} * a.c > kMaxElements || int64_t{a.c} * a.mid > kMaxElements) return kInvalid;
  const size_t smem = (size_t(a.c) + a.mid + kThreads) * sizeof(float);
  DeviceLimits dev;
  if (int e = current_device_limits(&dev)) return e;
  if (smem > dev.smem_per_block) return kInvalid;  // more channels than the card's shared memory holds
  SeParams p{};
  p.g = a.g.data;
  p.w1 = a.w1, p.b1 = a.b1, p.w2 = a.w2, p.b2 = a.b2;
  p.s = a.s;
  p.c = a.c;
  p.mid = a.mid;
  p.lanes1 = matvec_lanes(a.mid, a.c);
  p.lanes2 = matvec_lanes(a.c, a.mid);
  p.act1 = a.act1;
  p.act2 = a.act2;
  p.g_f16 = a.g.f16;
  p.s_f16 = a.s_f16;
  return static_cast<int>(launch_kernel(&se_fc_kernel, dim3(static_cast<unsigned>(a.n)),
                                        dim3(kThreads), smem, stream, p));
}

}  // namespace xsep::kernels::graph
