// Strided batched GEMM with a fused epilogue (graph_kernels.h: gemm): the
// kernel behind pointwise convolutions (NCHW and NHWC), Gemm and MatMul, on
// CUDA cores in float32; and the host side that prepares the problem and picks
// between this kernel and the tensor-core one (gemm_tc.cu) for float16 networks.
//
// A block computes a BM x BN tile of one batch entry's output, BM = 16*TM and
// BN = 16*TN (TM, TN in {1, 2, 4}); its 256 threads form a 16 x 16 grid and
// each owns a TM x TN register tile (rows ty*TM + i, columns tx*TN + j).
// K advances in steps of BK = 16: every thread loads TM elements of the A
// tile and TN of the B tile with scalar strided loads (converted to float,
// zero outside the matrix, the SE multiplier kscale[k] applied to one side),
// into registers first, so that the next step's global loads are in flight
// while the current step computes from the other of two shared-memory
// buffers. Epilogue: alpha * acc + bias + beta * C, activation, store in y's
// dtype.
//
// Strides are arbitrary, so each operand's loader picks the thread mapping
// that makes consecutive threads read consecutive addresses (k fastest when
// the k stride is 1, else m / n fastest). The host transposes the problem
// (Y^T = B^T A^T) when y is contiguous along m, so that stores walk n.
#include <cstdlib>
#include <cstring>
#include <utility>

#include "gemm_params.cuh"
#include "gemm_tiles.h"
#include "../device_limits.h"

namespace xsep::kernels::graph {
namespace {

constexpr int kBK = 16;

// Shared memory of one (TM, TN) kernel: two buffers of A [BK][BM + 4] (k-major,
// so a thread's TM rows are one vector load) and B [BK][BN + 4]. The padding
// keeps rows 16-byte aligned and spreads the k-fastest stores over banks.
constexpr int lda_of(int tm) { return 16 * tm + 4; }
constexpr size_t gemm_smem_bytes(int tm, int tn) {
  return size_t(2) * kBK * (lda_of(tm) + lda_of(tn)) * sizeof(float);
}

// v[0..R) = p[0..R), one vector load when R is 2 or 4 (p is R-aligned).
template <int R>
__device__ __forceinline__ void load_row(const float* p, float (&v)[R]) {
  if constexpr (R == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
  } else if constexpr (R == 2) {
    const float2 q = *reinterpret_cast<const float2*>(p);
    v[0] = q.x, v[1] = q.y;
  } else {
#pragma unroll
    for (int r = 0; r < R; ++r) v[r] = p[r];
  }
}

template <typename TA, typename TB, int TM, int TN>
__global__ void __launch_bounds__(kThreads) gemm_kernel(const GemmParams p) {
  constexpr int BM = 16 * TM, BN = 16 * TN, BK = kBK;
  constexpr int LDA = lda_of(TM), LDB = lda_of(TN);
  constexpr int kAPer = BM * BK / kThreads;  // A elements staged per thread (= TM)
  constexpr int kBPer = BK * BN / kThreads;  // B elements staged per thread (= TN)
  XSEP_DYNAMIC_SMEM(smem);
  float* const As = smem;                 // [2][BK][LDA]
  float* const Bs = smem + 2 * BK * LDA;  // [2][BK][LDB]

  const int tid = static_cast<int>(threadIdx.x);
  const GemmBlock blk = gemm_block(p, BM, BN);
  const int bat = blk.bat, m0 = blk.m0, n0 = blk.n0;

  const TA* const a = static_cast<const TA*>(p.a) + bat * p.a_b + m0 * p.a_m;
  const TB* const b = static_cast<const TB*>(p.b) + bat * p.b_b + n0 * p.b_n;
  const int64_t ks0 = bat * p.ks_b;

  // This thread's staging slots: element e = tid + r * kThreads of the tile,
  // split into (row or column, k) by the operand's mapping.
  int a_mm[kAPer], a_kk[kAPer];
  int64_t a_off[kAPer];
  bool a_in[kAPer];
#pragma unroll
  for (int r = 0; r < kAPer; ++r) {
    const int e = tid + r * kThreads;
    a_kk[r] = p.a_kfast ? e % BK : e / BM;
    a_mm[r] = p.a_kfast ? e / BK : e % BM;
    a_off[r] = a_mm[r] * p.a_m + a_kk[r] * p.a_k;
    a_in[r] = m0 + a_mm[r] < p.m;
  }
  int b_nn[kBPer], b_kk[kBPer];
  int64_t b_off[kBPer];
  bool b_in[kBPer];
#pragma unroll
  for (int r = 0; r < kBPer; ++r) {
    const int e = tid + r * kThreads;
    b_kk[r] = p.b_kfast ? e % BK : e / BN;
    b_nn[r] = p.b_kfast ? e / BK : e % BN;
    b_off[r] = b_kk[r] * p.b_k + b_nn[r] * p.b_n;
    b_in[r] = n0 + b_nn[r] < p.n;
  }

  float ra[kAPer], rb[kBPer];
  // Global -> registers for the K step starting at k0 (zero outside A / B).
  auto fetch = [&](int k0) {
    const int64_t ka = k0 * p.a_k, kb = k0 * p.b_k;
#pragma unroll
    for (int r = 0; r < kAPer; ++r) {
      const int k = k0 + a_kk[r];
      float v = 0.f;
      if (a_in[r] && k < p.k) {
        v = load_t(a, a_off[r] + ka);
        if (p.ks != nullptr && p.ks_on_a) v *= load_act(p.ks, ks0 + k * p.ks_k, p.ks_f16);
      }
      ra[r] = v;
    }
#pragma unroll
    for (int r = 0; r < kBPer; ++r) {
      const int k = k0 + b_kk[r];
      float v = 0.f;
      if (b_in[r] && k < p.k) {
        v = load_t(b, b_off[r] + kb);
        if (p.ks != nullptr && !p.ks_on_a) v *= load_act(p.ks, ks0 + k * p.ks_k, p.ks_f16);
      }
      rb[r] = v;
    }
  };
  // Registers -> shared buffer `buf`.
  auto stash = [&](int buf) {
#pragma unroll
    for (int r = 0; r < kAPer; ++r) As[(buf * BK + a_kk[r]) * LDA + a_mm[r]] = ra[r];
#pragma unroll
    for (int r = 0; r < kBPer; ++r) Bs[(buf * BK + b_kk[r]) * LDB + b_nn[r]] = rb[r];
  };

  const int tx = tid % 16, ty = tid / 16;
  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  const int ksteps = static_cast<int>((int64_t{p.k} + BK - 1) / BK);  // k may be 2^31-1
  if (ksteps > 0) {  // uniform across the block
    fetch(0);
    stash(0);
  }
  __syncthreads();
  for (int s = 0; s < ksteps; ++s) {
    const int buf = s & 1;
    const bool more = s + 1 < ksteps;  // uniform
    if (more) fetch((s + 1) * BK);
    const float* ap = As + buf * BK * LDA + ty * TM;
    const float* bp = Bs + buf * BK * LDB + tx * TN;
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
      load_row<TM>(ap + kk * LDA, av);
      load_row<TN>(bp + kk * LDB, bv);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    // Step s reads buffer buf and writes buf ^ 1; the barrier publishes
    // buf ^ 1 for step s + 1 and retires the reads of buf before step s + 1
    // overwrites it.
    if (more) stash(buf ^ 1);
    __syncthreads();
  }

  // Epilogue.
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty * TM + i;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int n = n0 + tx * TN + j;
      if (m < p.m && n < p.n) gemm_store(p, bat, m, n, acc[i][j]);
    }
  }
}

using GemmKernel = void (*)(GemmParams);

template <typename TA, typename TB>
GemmKernel pick_kernel(int tm, int tn) {
  switch (tm * 8 + tn) {
    case 1 * 8 + 1: return &gemm_kernel<TA, TB, 1, 1>;
    case 1 * 8 + 2: return &gemm_kernel<TA, TB, 1, 2>;
    case 1 * 8 + 4: return &gemm_kernel<TA, TB, 1, 4>;
    case 2 * 8 + 1: return &gemm_kernel<TA, TB, 2, 1>;
    case 2 * 8 + 2: return &gemm_kernel<TA, TB, 2, 2>;
    case 2 * 8 + 4: return &gemm_kernel<TA, TB, 2, 4>;
    case 4 * 8 + 1: return &gemm_kernel<TA, TB, 4, 1>;
    case 4 * 8 + 2: return &gemm_kernel<TA, TB, 4, 2>;
    default: return &gemm_kernel<TA, TB, 4, 4>;
  }
}

// Register-tile extent along an output axis of `v` elements: 16, 32 or 64 per block.
int tile_factor(int v) { return v <= 16 ? 1 : v <= 32 ? 2 : 4; }

// The problem as the kernels see it: y contiguous along n (else the host
// computes Y^T = B^T A^T), and each operand's loader mapping.
struct Prepared {
  GemmParams p{};
  bool a_f16 = false, b_f16 = false;
};
enum class Check { kInvalid, kEmpty, kWork };
// kInvalid for bad arguments, kEmpty when there is nothing to write (checked
// before the pointers, which may then be null), else kWork and `out` filled.
Check prepare(const GemmArgs& g, Prepared& out) {
  if (g.batch < 0 || g.m < 0 || g.n < 0 || g.k < 0) return Check::kInvalid;
  if (g.batch == 0 || g.m == 0 || g.n == 0) return Check::kEmpty;
  if (g.y == nullptr || (g.k > 0 && (g.a.data == nullptr || g.b.data == nullptr))) return Check::kInvalid;
  if (g.bias != nullptr && g.bias_axis != 1 && g.bias_axis != 2) return Check::kInvalid;
  GemmParams& p = out.p;
  p.m = g.m;
  p.n = g.n;
  p.k = g.k;
  // With K = 0 the operands are never read (and may be null): every stride is
  // zeroed, so that no kernel forms an address off a null pointer.
  const bool has_k = g.k > 0;
  p.a = g.a.data;
  p.a_b = has_k ? g.a_b : 0;
  p.a_m = has_k ? g.a_m : 0;
  p.a_k = has_k ? g.a_k : 0;
  p.b = g.b.data;
  p.b_b = has_k ? g.b_b : 0;
  p.b_k = has_k ? g.b_k : 0;
  p.b_n = has_k ? g.b_n : 0;
  p.ks = has_k ? g.kscale.data : nullptr;
  p.ks_f16 = g.kscale.f16;
  p.ks_b = g.ks_b;
  p.ks_k = g.ks_k;
  p.c = g.c.data;
  p.c_f16 = g.c.f16;
  p.c_b = g.c_b;
  p.c_m = g.c_m;
  p.c_n = g.c_n;
  p.y = g.y;
  p.y_f16 = g.y_f16;
  p.y_b = g.y_b;
  p.y_m = g.y_m;
  p.y_n = g.y_n;
  p.bias_m = g.bias_axis == 1 ? g.bias : nullptr;
  p.bias_n = g.bias_axis == 2 ? g.bias : nullptr;
  p.alpha = g.alpha;
  p.beta = g.beta;
  p.act = g.act;
  out.a_f16 = g.a.f16;
  out.b_f16 = g.b.f16;

  // y contiguous along m: compute Y^T = B^T A^T so that stores walk n.
  if (std::llabs(p.y_m) < std::llabs(p.y_n)) {
    std::swap(p.m, p.n);
    std::swap(p.a, p.b);
    std::swap(out.a_f16, out.b_f16);
    const int64_t a_b = p.a_b, a_m = p.a_m, a_k = p.a_k;
    p.a_b = p.b_b, p.a_m = p.b_n, p.a_k = p.b_k;
    p.b_b = a_b, p.b_n = a_m, p.b_k = a_k;
    std::swap(p.c_m, p.c_n);
    std::swap(p.y_m, p.y_n);
    std::swap(p.bias_m, p.bias_n);
  }
  p.a_kfast = p.a_k == 1 || (p.a_m != 1 && std::llabs(p.a_k) < std::llabs(p.a_m));
  p.b_kfast = p.b_k == 1 || (p.b_n != 1 && std::llabs(p.b_k) < std::llabs(p.b_n));
  return Check::kWork;
}

// The CUDA-core kernel; tm, tn = 0 pick the tile.
int run_cuda_core(Prepared& pr, int batch, int force_tm, int force_tn, cudaStream_t stream) {
  GemmParams& p = pr.p;
  // Tile: as large as the matrix needs, then smaller while the grid would
  // leave most of the GPU idle (a few hundred blocks fill an H100).
  int tm = tile_factor(p.m), tn = tile_factor(p.n);
  auto blocks_of = [&](int fm, int fn) {
    return int64_t{batch} * div_up64(p.m, 16 * fm) * div_up64(p.n, 16 * fn);
  };
  while (blocks_of(tm, tn) < 264 && (tm > 1 || tn > 1)) {
    if (tn >= tm)
      tn /= 2;
    else
      tm /= 2;
  }
  auto valid = [](int f) { return f == 1 || f == 2 || f == 4; };
  if (force_tm != 0 || force_tn != 0) {
    if ((force_tm != 0 && !valid(force_tm)) || (force_tn != 0 && !valid(force_tn))) return kInvalid;
    if (force_tm != 0) tm = force_tm;
    if (force_tn != 0) tn = force_tn;
  }
  p.tiles_m = static_cast<int>(div_up64(p.m, 16 * tm));
  p.tiles_n = static_cast<int>(div_up64(p.n, 16 * tn));
  const int64_t blocks = blocks_of(tm, tn);
  if (blocks > kMaxGridBlocks) return kInvalid;
  p.ks_on_a = tm <= tn;  // scale the smaller staged tile

  GemmKernel kernel;
  if (pr.a_f16)
    kernel = pr.b_f16 ? pick_kernel<__half, __half>(tm, tn) : pick_kernel<__half, float>(tm, tn);
  else
    kernel = pr.b_f16 ? pick_kernel<float, __half>(tm, tn) : pick_kernel<float, float>(tm, tn);
  return static_cast<int>(launch_kernel(kernel, dim3(static_cast<unsigned>(blocks)),
                                        dim3(kThreads), gemm_smem_bytes(tm, tn), stream, p));
}

// The tensor-core kernel computes in float16, which a float16 network's
// output precision allows: y is float16 and at least one operand (the
// activation) is. Float32 networks keep float32 products (SPEC 5).
bool tensor_core_eligible(const Prepared& pr) { return pr.p.y_f16 && (pr.a_f16 || pr.b_f16); }

// The tensor-core kernel's block width: as wide as n needs, up to 64.
int tc_width(int n) { return n <= 16 ? 1 : n <= 32 ? 2 : 4; }

// Developer knob: XSEP_GEMM_KERNEL=cuda_core or =tensor_core forces one kernel
// (tensor_core where eligible) for every call, to benchmark them against each
// other; any other value means `auto`. Read once per process.
GemmKernelChoice env_choice() {
  static const GemmKernelChoice choice = [] {
    const char* v = std::getenv("XSEP_GEMM_KERNEL");
    if (v != nullptr && std::strcmp(v, "cuda_core") == 0) return GemmKernelChoice::kCudaCore;
    if (v != nullptr && std::strcmp(v, "tensor_core") == 0) return GemmKernelChoice::kTensorCore;
    return GemmKernelChoice::kAuto;
  }();
  return choice;
}

GemmKernelChoice choose(const GemmArgs& g, const Prepared& pr, int sm_count) {
  if (!tensor_core_eligible(pr)) return GemmKernelChoice::kCudaCore;
  const GemmKernelChoice forced = env_choice();
  if (forced != GemmKernelChoice::kAuto) return forced;
  // Tensor cores where the grid has at least a block per SM of this device;
  // smaller problems (batch-1 layers) keep the CUDA-core kernel's smaller
  // tiles and wider grids. A guess until measured (bench/NOTES.md item 16).
  const int bn16 = tc_width(pr.p.n);
  const int64_t blocks =
      int64_t{g.batch} * div_up64(pr.p.m, gemm_tc_block_m(bn16)) * div_up64(pr.p.n, gemm_tc_block_n(bn16));
  return blocks >= sm_count ? GemmKernelChoice::kTensorCore : GemmKernelChoice::kCudaCore;
}

}  // namespace

XSEP_GRAPH_EXPORT GemmKernelChoice gemm_kernel_choice(const GemmArgs& g) {
  Prepared pr;
  DeviceLimits dev;
  if (prepare(g, pr) != Check::kWork) return GemmKernelChoice::kAuto;  // no launch
  if (current_device_limits(&dev) != 0) return GemmKernelChoice::kAuto;  // gemm() fails
  return choose(g, pr, dev.sm_count);
}

XSEP_GRAPH_EXPORT int gemm_with_tile(const GemmArgs& g, int force_tm, int force_tn,
                                     cudaStream_t stream) {
  Prepared pr;
  const Check c = prepare(g, pr);
  if (c != Check::kWork) return c == Check::kEmpty ? 0 : kInvalid;
  return run_cuda_core(pr, g.batch, force_tm, force_tn, stream);
}

XSEP_GRAPH_EXPORT int gemm_tensor_core(const GemmArgs& g, int bn16, cudaStream_t stream) {
  if (bn16 != 0 && bn16 != 1 && bn16 != 2 && bn16 != 4) return kInvalid;
  Prepared pr;
  const Check c = prepare(g, pr);
  if (c != Check::kWork) return c == Check::kEmpty ? 0 : kInvalid;
  if (!tensor_core_eligible(pr)) return kInvalid;
  return static_cast<int>(
      launch_gemm_tc(pr.p, g.batch, pr.a_f16, pr.b_f16, bn16 == 0 ? tc_width(pr.p.n) : bn16, stream));
}

XSEP_GRAPH_EXPORT int gemm(const GemmArgs& g, cudaStream_t stream) {
  Prepared pr;
  const Check c = prepare(g, pr);
  if (c != Check::kWork) return c == Check::kEmpty ? 0 : kInvalid;  // empty: nothing to write
  DeviceLimits dev;
  if (int e = current_device_limits(&dev)) return e;
  if (choose(g, pr, dev.sm_count) == GemmKernelChoice::kTensorCore)
    return static_cast<int>(launch_gemm_tc(pr.p, g.batch, pr.a_f16, pr.b_f16, tc_width(pr.p.n), stream));
  return run_cuda_core(pr, g.batch, 0, 0, stream);
}

}  // namespace xsep::kernels::graph
