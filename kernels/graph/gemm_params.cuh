// What the two GEMM kernels share (gemm.cu: the CUDA-core kernel and the
// host-side preparation; gemm_tc.cu: the tensor-core kernel): the problem as
// the kernels see it, after the host's transposition to an output that is
// contiguous along n.
#pragma once

#include <cstdint>

#include "graph_common.cuh"

namespace xsep::kernels::graph {

struct GemmParams {
  int m, n, k;
  int tiles_m, tiles_n;  // blockIdx.x = (batch * tiles_m + tile_m) * tiles_n + tile_n
  const void* a;
  int64_t a_b, a_m, a_k;
  const void* b;
  int64_t b_b, b_k, b_n;
  const void* ks;  // null: no kscale
  int64_t ks_b, ks_k;
  const void* c;  // null: no C
  int64_t c_b, c_m, c_n;
  void* y;
  int64_t y_b, y_m, y_n;
  const float* bias_m;  // bias[m] or null
  const float* bias_n;  // bias[n] or null
  float alpha, beta;
  Act act;
  bool ks_f16, ks_on_a, c_f16, y_f16;
  bool a_kfast, b_kfast;  // loader thread mapping: k fastest, else m / n fastest
};

// The batch entry and first output row and column of this block's BM x BN
// tile: blockIdx.x = (batch * tiles_m + tile_m) * tiles_n + tile_n.
struct GemmBlock {
  int bat, m0, n0;
};
__device__ __forceinline__ GemmBlock gemm_block(const GemmParams& p, int bm, int bn) {
  int blk = static_cast<int>(blockIdx.x);
  const int tile_n = blk % p.tiles_n;
  blk /= p.tiles_n;
  const int tile_m = blk % p.tiles_m;
  return GemmBlock{blk / p.tiles_m, tile_m * bm, tile_n * bn};
}

// The epilogue of output (m, n) of batch entry bat, both inside the matrix:
// y = act(alpha * acc + bias + beta * C), stored in y's dtype.
__device__ __forceinline__ void gemm_store(const GemmParams& p, int bat, int m, int n, float acc) {
  float v = fmaf(p.alpha, acc, p.bias_m != nullptr ? p.bias_m[m] : 0.f);
  if (p.bias_n != nullptr) v += p.bias_n[n];
  if (p.c != nullptr) v = fmaf(p.beta, load_act(p.c, bat * p.c_b + m * p.c_m + n * p.c_n, p.c_f16), v);
  store_act(p.y, bat * p.y_b + m * p.y_m + n * p.y_n, p.y_f16, apply_act(p.act, v));
}

// The tensor-core kernel's block tile: 16 * bn16 output columns (bn16 = 1, 2
// or 4) by 4096 / (16 * bn16) rows.
constexpr int gemm_tc_block_m(int bn16) { return 256 / bn16; }
constexpr int gemm_tc_block_n(int bn16) { return 16 * bn16; }

// Launches the tensor-core kernel on p (tiles_m, tiles_n and ks_on_a are set
// here), float16 products with float32 accumulation. Returns the launch's error.
cudaError_t launch_gemm_tc(GemmParams p, int batch, bool a_f16, bool b_f16, int bn16, cudaStream_t stream);

}  // namespace xsep::kernels::graph
