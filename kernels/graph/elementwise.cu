// Strided broadcasting elementwise ops (graph_kernels.h: elementwise): binary
// Add / Mul, MulAdd, activations (Copy + act), layout conversion, Concat /
// Split slices.
//
// The host first simplifies the index space: dims of extent 1 are dropped and
// neighbouring dims that every operand walks contiguously (stride[d] ==
// stride[d+1] * dims[d+1] for a, b and y alike) are merged, so a dense
// same-layout op becomes rank 1 and a layout conversion rank 3. The kernel
// then walks the flat index i in [0, prod(dims)) with a grid-stride loop and
// decomposes it innermost dim first (dims stored innermost first, e[0]):
//   e_0 = i % d_0,  i_1 = i / d_0,  e_1 = i_1 % d_1,  i_2 = i_1 / d_1, ...
//   offset(operand) = sum_d e_d * stride_operand[d]   (int64)
// so consecutive threads take consecutive innermost coordinates.
#include "graph_common.cuh"

namespace xsep::kernels::graph {
namespace {

constexpr int kMaxRank = 6;

struct EltParams {
  int rank;             // >= 1 after simplification
  int dims[kMaxRank];   // innermost first
  int64_t as[kMaxRank], bs[kMaxRank], ys[kMaxRank];
  const void* a;
  const void* b;
  const void* c;  // kMulAdd: read at b's offsets
  void* y;
  int total;
  int op;  // EltOp
  bool a_f16, b_f16, c_f16, y_f16;
  Act act;
};

__global__ void __launch_bounds__(kThreads) elementwise_kernel(const EltParams p) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i64 = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i64 < p.total; i64 += step) {
    int t = static_cast<int>(i64);
    int64_t oa = 0, ob = 0, oy = 0;
#pragma unroll
    for (int d = 0; d < kMaxRank; ++d) {
      if (d < p.rank) {
        const int q = t / p.dims[d];
        const int e = t - q * p.dims[d];
        t = q;
        oa += e * p.as[d];
        ob += e * p.bs[d];
        oy += e * p.ys[d];
      }
    }
    float v = load_act(p.a, oa, p.a_f16);
    if (p.op == static_cast<int>(EltOp::kAdd))
      v += load_act(p.b, ob, p.b_f16);
    else if (p.op == static_cast<int>(EltOp::kMul))
      v *= load_act(p.b, ob, p.b_f16);
    else if (p.op == static_cast<int>(EltOp::kMulAdd))
      v = fmaf(v, load_act(p.b, ob, p.b_f16), load_act(p.c, ob, p.c_f16));
    store_act(p.y, oy, p.y_f16, apply_act(p.act, v));
  }
}

}  // namespace

XSEP_GRAPH_EXPORT int elementwise(const EltArgs& e, cudaStream_t stream) {
  if (e.rank < 0 || e.rank > kMaxRank) return kInvalid;
  const int op = static_cast<int>(e.op);
  if (op < 0 || op > 3) return kInvalid;
  const bool binary = e.op != EltOp::kCopy;
  const bool with_c = e.op == EltOp::kMulAdd;
  int64_t total = 1;
  for (int d = 0; d < e.rank; ++d) {
    if (e.dims[d] < 0) return kInvalid;
    total *= e.dims[d];
    if (total > kMaxElements) return kInvalid;
  }
  if (total == 0) return 0;
  if (e.a.data == nullptr || e.y == nullptr || (binary && e.b.data == nullptr) || (with_c && e.c.data == nullptr))
    return kInvalid;

  // Simplify, outermost to innermost: drop extent-1 dims, merge a dim into the
  // previous kept one when every operand's strides chain.
  int64_t dims[kMaxRank], as[kMaxRank], bs[kMaxRank], ys[kMaxRank];
  int rank = 0;
  for (int d = 0; d < e.rank; ++d) {
    if (e.dims[d] == 1) continue;
    const int64_t sa = e.a_stride[d], sb = binary ? e.b_stride[d] : 0, sy = e.y_stride[d];
    if (rank > 0) {
      const int64_t n = e.dims[d];
      const int r = rank - 1;
      if (as[r] == sa * n && bs[r] == sb * n && ys[r] == sy * n) {
        dims[r] *= n;
        as[r] = sa, bs[r] = sb, ys[r] = sy;
        continue;
      }
    }
    dims[rank] = e.dims[d], as[rank] = sa, bs[rank] = sb, ys[rank] = sy;
    ++rank;
  }

  EltParams p{};
  if (rank == 0) {  // a single element
    p.rank = 1;
    p.dims[0] = 1;
  } else {
    p.rank = rank;
    for (int d = 0; d < rank; ++d) {  // innermost first
      const int s = rank - 1 - d;
      p.dims[d] = static_cast<int>(dims[s]);
      p.as[d] = as[s];
      p.bs[d] = bs[s];
      p.ys[d] = ys[s];
    }
  }
  p.a = e.a.data;
  p.b = binary ? e.b.data : nullptr;
  p.c = with_c ? e.c.data : nullptr;
  p.c_f16 = with_c && e.c.f16;
  p.y = e.y;
  p.total = static_cast<int>(total);
  p.op = op;
  p.a_f16 = e.a.f16;
  p.b_f16 = e.b.f16;
  p.y_f16 = e.y_f16;
  p.act = e.act;
  return static_cast<int>(launch_kernel(&elementwise_kernel, dim3(grid_stride_blocks(total)),
                                        dim3(kThreads), 0, stream, p));
}

}  // namespace xsep::kernels::graph
