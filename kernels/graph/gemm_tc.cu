// The tensor-core GEMM (graph_kernels.h: gemm): the same strided batched
// product and fused epilogue as gemm.cu's CUDA-core kernel, for float16
// networks. Operands are rounded to float16 as they are staged (float32
// weights and the SE multiplier kscale included: a relative error of at most
// 2^-11 per factor in float16's normal range, as large as the float16
// output's own rounding; SPEC 5's float16 bounds hold, see the tests), products
// accumulate in float32 on the tensor cores (warp matrix API, 16x16x16 tiles).
// Known limit: a float32 weight beyond float16's range (|w| > 65504) stages as
// infinity here, where the CUDA-core kernel would keep it; a network with such
// weights runs float16 with XSEP_GEMM_KERNEL=cuda_core (README). kscale and
// the activations of a float16 network are float16 values already.
//
// A block of 256 threads (8 warps) computes a BM x BN tile of one batch
// entry's output, BN = 16 * bn16 and BM = 4096 / BN (256 x 16, 128 x 32 or
// 64 x 64: every warp owns a 32 x 16 piece, two accumulator fragments, warps
// arranged (8 / bn16) x bn16). K advances in steps of BK = 32. Both operands
// are staged k-contiguous in shared memory as float16, A as [BM][BK + 8]
// (row-major for matrix_a), B as [BN][BK + 8] (column-major for matrix_b); the
// 8-half pad puts the 8 rows of each 16-byte fragment access in distinct
// banks (a row is 20 words: rows r = 0..7 start at banks 20 r mod 32 =
// 0, 20, 8, 28, 16, 4, 24, 12). Global loads go to registers first, so the next
// step's loads are in flight while the current step multiplies from the other
// of two buffers (as gemm.cu). After the K loop the accumulators are stored to
// shared memory as float [BM][BN + 4] (over the staging buffers) and the
// threads run the epilogue with n fastest, so that stores walk y's rows.
#include "../tensor_core.cuh"
#include "gemm_params.cuh"

namespace xsep::kernels::graph {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kBK = 32;
constexpr int kLds = kBK + 8;  // halves per staged row

template <int BN16>
struct TcTile {
  static constexpr int kWarpsN = BN16, kWarpsM = 8 / BN16;
  static constexpr int BM = gemm_tc_block_m(BN16), BN = gemm_tc_block_n(BN16);
  static constexpr int LDC = BN + 4;  // floats per row of the output tile
  static_assert(BM == 32 * kWarpsM && BN == 16 * kWarpsN, "a warp owns 32 x 16 outputs");
  static constexpr size_t kStage = size_t(2) * (BM + BN) * kLds * sizeof(__half);
  static constexpr size_t kOut = size_t(BM) * LDC * sizeof(float);
  static constexpr size_t kSmem = kStage > kOut ? kStage : kOut;
};

// One operand's staging for this thread: R elements of a ROWS x BK tile
// (ROWS = BM for A, BN for B), element r at (row0 + r * drow, k0 + r * dk).
// With the thread mapping that makes a warp read consecutive addresses, and
// since 256 is a multiple of both ROWS and BK, one coordinate is fixed:
//   k fastest (the operand's k stride is the smaller): k0 = tid % BK,
//     row0 = tid / BK, drow = 256 / BK, dk = 0;
//   rows fastest:  row0 = tid % ROWS, k0 = tid / ROWS, drow = 0, dk = 256 / ROWS
//     (its shared-memory stores are 4-way bank conflicted: rows 20 words apart).
template <typename T, int ROWS>
struct Stager {
  static_assert(kThreads % ROWS == 0 && kThreads % kBK == 0 && (ROWS * kBK) % kThreads == 0,
                "each mapping fixes one coordinate per thread and gives every thread R slots");
  static constexpr int R = ROWS * kBK / kThreads;
  const T* src;        // the operand at this thread's slot 0 (k step 0)
  int64_t doff;        // element offset between slots
  int64_t k_stride;
  int s0, ds;          // shared-memory index of slot 0 and between slots
  int k0, dk;
  int row_slots;       // slots whose row is inside the matrix (r < row_slots)
  __half v[R];

  __device__ __forceinline__ Stager(const T* base, int64_t row_stride, int64_t kstride, bool kfast,
                                    int rows) {
    const int tid = static_cast<int>(threadIdx.x);
    const int row0 = kfast ? tid / kBK : tid % ROWS;
    k0 = kfast ? tid % kBK : tid / ROWS;
    const int drow = kfast ? kThreads / kBK : 0;
    dk = kfast ? 0 : kThreads / ROWS;
    src = base + (row0 * row_stride + k0 * kstride);
    doff = drow * row_stride + dk * kstride;
    k_stride = kstride;
    s0 = row0 * kLds + k0;
    ds = drow * kLds + dk;
    // Rows grow with r (or stay): slot r is inside iff r < row_slots.
    // ceil((rows - row0) / drow), written so it cannot overflow for rows near 2^31.
    row_slots = row0 >= rows ? 0 : drow == 0 ? R : (rows - row0 - 1) / drow + 1;
  }

  // Global -> registers (float16) for the K step at kbase; zero outside the
  // matrix. ks (or null): the kscale multiplier, element ks0 + k * ks_k.
  // Validity is one compare of the unrolled r against a bound (k grows with r
  // too), and addresses advance from one running pointer: R per-slot
  // predicates and addresses would be loop-invariant and stay in registers
  // across the K loop.
  __device__ __forceinline__ void fetch(int kbase, int kdim, const void* ks, int64_t ks0, int64_t ks_k,
                                        bool ks_f16) {
    const int kleft = kdim - kbase - k0;  // slot r's k is inside iff r * dk < kleft
    const int k_slots = kleft <= 0 ? 0 : dk == 0 ? R : (kleft - 1) / dk + 1;  // ceil, no overflow
    const int slots = row_slots < k_slots ? row_slots : k_slots;
    const T* q = src + kbase * k_stride;
#pragma unroll
    for (int r = 0; r < R; ++r, q += doff) {
      float x = 0.f;
      if (r < slots) {
        x = to_float(*q);
        if (ks != nullptr) x *= load_act(ks, ks0 + (kbase + k0 + r * dk) * ks_k, ks_f16);
      }
      v[r] = from_float<__half>(x);
    }
  }

  // Registers -> the staged tile dst [ROWS][kLds].
  __device__ __forceinline__ void stash(__half* dst) const {
#pragma unroll
    for (int r = 0; r < R; ++r) dst[s0 + r * ds] = v[r];
  }
};

template <typename TA, typename TB, int BN16>
__global__ void __launch_bounds__(kThreads) gemm_tc_kernel(const GemmParams p) {
  using Tile = TcTile<BN16>;
  constexpr int BM = Tile::BM, BN = Tile::BN, LDC = Tile::LDC;
  XSEP_DYNAMIC_SMEM(smem);
  __half* const As = reinterpret_cast<__half*>(smem);  // [2][BM][kLds]
  __half* const Bs = As + 2 * BM * kLds;               // [2][BN][kLds]
  float* const Cs = smem;                              // [BM][LDC], after the K loop

  const int tid = static_cast<int>(threadIdx.x);
  const GemmBlock blk = gemm_block(p, BM, BN);
  const int bat = blk.bat, m0 = blk.m0, n0 = blk.n0;

  Stager<TA, BM> sa(static_cast<const TA*>(p.a) + bat * p.a_b + m0 * p.a_m, p.a_m, p.a_k, p.a_kfast,
                    p.m - m0);
  Stager<TB, BN> sb(static_cast<const TB*>(p.b) + bat * p.b_b + n0 * p.b_n, p.b_n, p.b_k, p.b_kfast,
                    p.n - n0);
  const int64_t ks0 = bat * p.ks_b;
  const void* const ks_a = p.ks_on_a ? p.ks : nullptr;
  const void* const ks_b = p.ks_on_a ? nullptr : p.ks;

  // Warp w owns output rows wm * 32 + [0, 32) and columns wn * 16 + [0, 16).
  const int warp = tid / 32;
  const int wm = warp / Tile::kWarpsN, wn = warp % Tile::kWarpsN;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
  wmma::fill_fragment(acc[0], 0.f);
  wmma::fill_fragment(acc[1], 0.f);

  const int ksteps = static_cast<int>((int64_t{p.k} + kBK - 1) / kBK);  // k may be 2^31-1
  if (ksteps > 0) {  // uniform across the block
    sa.fetch(0, p.k, ks_a, ks0, p.ks_k, p.ks_f16);
    sb.fetch(0, p.k, ks_b, ks0, p.ks_k, p.ks_f16);
    sa.stash(As);
    sb.stash(Bs);
  }
  __syncthreads();
  for (int s = 0; s < ksteps; ++s) {
    const int buf = s & 1;
    const bool more = s + 1 < ksteps;  // uniform
    if (more) {
      sa.fetch((s + 1) * kBK, p.k, ks_a, ks0, p.ks_k, p.ks_f16);
      sb.fetch((s + 1) * kBK, p.k, ks_b, ks0, p.ks_k, p.ks_f16);
    }
    const __half* const at = As + (buf * BM + wm * 32) * kLds;
    const __half* const bt = Bs + (buf * BN + wn * 16) * kLds;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
      wmma::load_matrix_sync(fb, bt + kk, kLds);
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
        wmma::load_matrix_sync(fa, at + i * 16 * kLds + kk, kLds);
        wmma::mma_sync(acc[i], fa, fb, acc[i]);
      }
    }
    // As in gemm.cu: the barrier publishes buf ^ 1 for step s + 1 and retires
    // the reads of buf before step s + 1 overwrites it.
    if (more) {
      sa.stash(As + (buf ^ 1) * BM * kLds);
      sb.stash(Bs + (buf ^ 1) * BN * kLds);
    }
    __syncthreads();
  }

  // The loop's last barrier retired every read of the staging buffers, so the
  // output tile may overwrite them.
#pragma unroll
  for (int i = 0; i < 2; ++i)
    wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * LDC + wn * 16, acc[i], LDC, wmma::mem_row_major);
  __syncthreads();

  // Epilogue, n fastest.
#pragma unroll 4
  for (int e = tid; e < BM * BN; e += kThreads) {
    const int mi = e / BN, ni = e % BN;
    const int m = m0 + mi, n = n0 + ni;
    if (m < p.m && n < p.n) gemm_store(p, bat, m, n, Cs[mi * LDC + ni]);
  }
}

using TcKernel = void (*)(GemmParams);

template <typename TA, typename TB>
TcKernel pick_tc(int bn16) {
  switch (bn16) {
    case 1: return &gemm_tc_kernel<TA, TB, 1>;
    case 2: return &gemm_tc_kernel<TA, TB, 2>;
    default: return &gemm_tc_kernel<TA, TB, 4>;
  }
}

size_t tc_smem_bytes(int bn16) {
  switch (bn16) {
    case 1: return TcTile<1>::kSmem;
    case 2: return TcTile<2>::kSmem;
    default: return TcTile<4>::kSmem;
  }
}

}  // namespace

cudaError_t launch_gemm_tc(GemmParams p, int batch, bool a_f16, bool b_f16, int bn16, cudaStream_t stream) {
  if (bn16 != 1 && bn16 != 2 && bn16 != 4) return cudaErrorInvalidValue;
  p.tiles_m = static_cast<int>(div_up64(p.m, gemm_tc_block_m(bn16)));
  p.tiles_n = static_cast<int>(div_up64(p.n, gemm_tc_block_n(bn16)));
  const int64_t blocks = int64_t{batch} * p.tiles_m * p.tiles_n;
  if (blocks > kMaxGridBlocks) return cudaErrorInvalidValue;
  p.ks_on_a = gemm_tc_block_m(bn16) <= gemm_tc_block_n(bn16);  // scale the smaller staged tile
  // float32 x float32 is the CUDA-core kernel's (gemm.cu: tensor_core_eligible).
  if (!a_f16 && !b_f16) return cudaErrorInvalidValue;
  const TcKernel kernel = !a_f16 ? pick_tc<float, __half>(bn16)
                          : b_f16 ? pick_tc<__half, __half>(bn16)
                                  : pick_tc<__half, float>(bn16);
  return launch_kernel(kernel, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), tc_smem_bytes(bn16),
                       stream, p);
}

}  // namespace xsep::kernels::graph
