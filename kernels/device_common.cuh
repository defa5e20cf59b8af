// What every kernel file shares: the CUDA-or-emulator includes, the dynamic
// shared memory declaration, the one launch helper, float16 <-> float32
// conversion, the fused epilogue and the register-blocked 1-D convolution.
#pragma once

#if defined(XSEP_EMU)
#include "emu/emu_runtime.h"
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>

namespace xsep::kernels {

// Threads per block of every kernel in the library.
constexpr int kThreads = 256;

// ---- The emulator switch points: shared memory and the launch (and the
// tensor-core fragments, tensor_core.cuh) -------------------------------------
// Dynamic shared memory is 32-byte aligned: wmma fragments load from and store
// to 256-bit aligned addresses (the emulator allocates it 64-byte aligned).
#if defined(XSEP_EMU)
#define XSEP_DYNAMIC_SMEM(name) \
  float* name = reinterpret_cast<float*>(::xsep::emu::current().smem)
#else
#define XSEP_DYNAMIC_SMEM(name)                                  \
  extern __shared__ __align__(32) unsigned char xsep_smem_raw_[]; \
  float* name = reinterpret_cast<float*>(xsep_smem_raw_)
#endif

#if !defined(XSEP_EMU)
// More than 48 KB of dynamic shared memory needs a per-kernel opt-in, which
// belongs to the CUDA context: a cudaDeviceReset, or another context on the
// same device, starts from 48 KB again, and the runtime offers no cheap way to
// tell contexts apart. So every launch above 48 KB sets it (a host call, no
// stream work, allowed during stream capture). It is only ever raised, to the
// largest size this process asked for on the device, under a lock: lowering it
// for a smaller tile would break a concurrent launch, or a captured CUDA
// graph's replay, that needs the larger one. The map and mutex are never
// destroyed, so a launch during static destruction (an atexit handler, a
// detached thread) still finds them.
inline cudaError_t raise_smem_limit(const void* kernel, size_t bytes) {
  static std::mutex* const mutex = new std::mutex;
  static auto* const largest = new std::map<std::pair<int, const void*>, size_t>;
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device)) return e;
  std::lock_guard<std::mutex> lock(*mutex);
  size_t& have = (*largest)[{device, kernel}];
  const size_t want = bytes > have ? bytes : have;
  const cudaError_t e =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(want));
  if (e == cudaSuccess) have = want;  // a refused size is not asked for again by smaller launches
  return e;
}
#endif

// Launches kernel(params) on `stream` and returns the launch's error.
template <typename Params>
cudaError_t launch_kernel(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem_bytes,
                          cudaStream_t stream, const Params& params) {
#if defined(XSEP_EMU)
  (void)stream;
  return ::xsep::emu::launch(grid, block, smem_bytes, [&] { kernel(params); });
#else
  if (smem_bytes > 48 * 1024) {
    if (cudaError_t e = raise_smem_limit(reinterpret_cast<const void*>(kernel), smem_bytes)) return e;
  }
  Params copy = params;
  void* args[] = {&copy};
  return cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block, args, smem_bytes, stream);
#endif
}

// ---- Element conversion: float32 arithmetic for every I/O type --------------
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

// ---- Epilogue: y = act(acc * scale[c] + bias[c]) (SPEC 2.4) ------------------
// Clamps that keep a NaN: fmaxf / fminf return the other operand when one is
// NaN, so fmaxf(NaN, 0) = 0 would turn a NaN input into a plausible output.
// These give NaN for NaN, as PyTorch's and ONNX Runtime's activations do.
// Written with <= / >= so that, for the non-NaN bounds used here (0, 6, the
// graph's Clip limits), they equal PTX max.NaN / min.NaN (+0 for max(-0, +0)
// included): nvcc compiles each to one FMNMX.NAN on sm_90, the SASS otherwise
// unchanged (bench/NOTES.md item 18). With a NaN bound they would not: v <= NaN
// is false, so v comes back where max.NaN gives NaN.
__device__ __forceinline__ float max_keep_nan(float v, float lo) { return v <= lo ? lo : v; }
__device__ __forceinline__ float min_keep_nan(float v, float hi) { return v >= hi ? hi : v; }
__device__ __forceinline__ float clamp_keep_nan(float v, float lo, float hi) {
  return min_keep_nan(max_keep_nan(v, lo), hi);
}

struct Epilogue {
  const float* scale;  // [C] or null
  const float* bias;   // [C] or null
  int act;             // xsep_activation
};

// One channel's epilogue, loaded once (per work item in dwconv_kernel, per
// thread in the fused kernels) rather than inside the output loop, where the
// loads would repeat (y may alias nothing the compiler can prove).
struct ChannelEpilogue {
  float scale, bias;
  int act;
};
__device__ __forceinline__ ChannelEpilogue channel_epilogue(const Epilogue& e, int c) {
  return ChannelEpilogue{e.scale != nullptr ? e.scale[c] : 1.f, e.bias != nullptr ? e.bias[c] : 0.f, e.act};
}
// The epilogue of N outputs of one channel, in place. The activation is the
// same for the whole launch; switching on it once per N outputs rather than
// once per output keeps the branches out of the per-output code.
template <int N>
__device__ __forceinline__ void apply_epilogue(const ChannelEpilogue& e, float (&v)[N]) {
#pragma unroll
  for (int o = 0; o < N; ++o) v[o] = fmaf(v[o], e.scale, e.bias);
  switch (e.act) {
    case 1:  // RELU
#pragma unroll
      for (int o = 0; o < N; ++o) v[o] = max_keep_nan(v[o], 0.f);
      break;
    case 2:  // RELU6
#pragma unroll
      for (int o = 0; o < N; ++o) v[o] = clamp_keep_nan(v[o], 0.f, 6.f);
      break;
    case 3:  // HARDSWISH
#pragma unroll
      for (int o = 0; o < N; ++o) v[o] = v[o] * clamp_keep_nan(v[o] + 3.f, 0.f, 6.f) * (1.f / 6.f);
      break;
    default:  // NONE
      break;
  }
}

// SYMMETRIC 2x2 padding: channel groups as numpy.array_split(range(C), 4) (with
// C = 4q + m the first m groups hold q+1 channels), using BOTTOM_RIGHT,
// TOP_LEFT, BOTTOM_LEFT, TOP_RIGHT. Returns the zero rows / columns added above
// (pad_top) and to the left (pad_left) of channel c: 0 or 1 each.
__device__ __forceinline__ void symmetric_pads(int c, int channels, int* pad_top, int* pad_left) {
  const int q = channels / 4, m = channels % 4;
  const int big = m * (q + 1);
  const int group = c < big ? c / (q + 1) : m + (c - big) / q;
  // group: 0 = BOTTOM_RIGHT (0,0), 1 = TOP_LEFT (1,1), 2 = BOTTOM_LEFT (0,1), 3 = TOP_RIGHT (1,0)
  *pad_top = (group == 1 || group == 3) ? 1 : 0;
  *pad_left = (group == 1 || group == 2) ? 1 : 0;
}

// A thread's fixed channel within a block's tc channels, cc = tid % tc, and its
// work groups g0, g0 + gstep, ... of every pass (gstep = blockDim.x / tc).
// When tc does not divide the block, the threads past gstep * tc would start at
// group gstep, i.e. repeat the work of the thread with the same channel and
// g0 = 0 (duplicate writes: a race), so they start past every pass' last group:
// they stage and wait at barriers but compute nothing.
struct ThreadChannel {
  int cc, g0, gstep;
};
__device__ __forceinline__ ThreadChannel thread_channel(int tc) {
  const int t = static_cast<int>(threadIdx.x);
  const int gstep = static_cast<int>(blockDim.x) / tc;
  return ThreadChannel{t % tc, t < gstep * tc ? t / tc : 1 << 30, gstep};
}

// Register-blocked 1-D convolution along one axis of a shared-memory tile:
//   acc[o] += sum_{j<K} w[j * wstep] * src[(S*o + j) * step],  o = 0 .. OPT-1.
// Each source value is loaded once and fed to every output that uses it
// (value q feeds output o with tap j = q - S*o), so OPT outputs cost
// S*(OPT-1)+K shared loads instead of OPT*K. With K and S known at compile
// time the tap conditions fold away and everything stays in registers.
// conv_window_fixed reads source value q as load(q) (a line of shared memory,
// or a ring of rows) and takes the K taps from registers (a thread that keeps
// its channel loads them once); conv_window_regs picks its stride (1 or 2) at
// run time, both unrolled, and conv_line_regs is that on src[q * step];
// conv_line_fixed reads the taps from w[j * wstep] first.
template <int K, int S, int OPT, typename Load>
__device__ __forceinline__ void conv_window_fixed(const Load& load, const float (&wr)[K], float (&acc)[OPT]) {
#pragma unroll
  for (int q = 0; q < S * (OPT - 1) + K; ++q) {
    const float v = load(q);
#pragma unroll
    for (int o = 0; o < OPT; ++o) {
      const int j = q - S * o;
      if (j >= 0 && j < K) acc[o] = fmaf(wr[j], v, acc[o]);
    }
  }
}
template <int K, int OPT, typename Load>
__device__ __forceinline__ void conv_window_regs(const Load& load, int s, const float (&wr)[K], float (&acc)[OPT]) {
  if (s == 1)
    conv_window_fixed<K, 1, OPT>(load, wr, acc);
  else
    conv_window_fixed<K, 2, OPT>(load, wr, acc);
}
template <int K, int OPT>
__device__ __forceinline__ void conv_line_regs(const float* src, int step, int s, const float (&wr)[K],
                                               float (&acc)[OPT]) {
  conv_window_regs<K, OPT>([&](int q) { return src[q * step]; }, s, wr, acc);
}
template <int K, int S, int OPT>
__device__ __forceinline__ void conv_line_fixed(const float* src, int step, const float* w,
                                                int wstep, float (&acc)[OPT]) {
  float wr[K];
#pragma unroll
  for (int j = 0; j < K; ++j) wr[j] = w[j * wstep];
  conv_window_fixed<K, S, OPT>([&](int q) { return src[q * step]; }, wr, acc);
}

// The same for a run-time K (the generic path). A window of OPT source values
// slides along the line, so each tap costs one weight load and one new source
// load for all OPT outputs: S*(OPT-1)+K source loads per call, as above, plus
// K weight loads (instead of OPT*K source loads without the window).
//   S = 1: tap j needs v[o] = src[(o + j) * step]; for tap j+1 every value
//          moves down one place and v[OPT-1] = src[(OPT + j) * step] is new.
//   S = 2: tap j needs src[(2o + j) * step]. Taps of one parity slide by one
//          place every two taps, so an even window (ve, taps 0, 2, ..) and an
//          odd one (vo, taps 1, 3, ..) alternate. The last value loaded is
//          src[(S*(OPT-1) + K-1) * step] for both strides: nothing past it.
template <int OPT>
__device__ __forceinline__ void slide_window(float (&v)[OPT], float next) {
#pragma unroll
  for (int o = 0; o + 1 < OPT; ++o) v[o] = v[o + 1];
  v[OPT - 1] = next;
}
template <int OPT>
__device__ __forceinline__ void fma_window(float wj, const float (&v)[OPT], float (&acc)[OPT]) {
#pragma unroll
  for (int o = 0; o < OPT; ++o) acc[o] = fmaf(wj, v[o], acc[o]);
}
// load(q) returns source value q of the line (q < S*(OPT-1) + K).
template <int OPT, typename Load>
__device__ __forceinline__ void conv_window_any(const Load& load, int s, int k, const float* w, int wstep,
                                                float (&acc)[OPT]) {
  if (s == 1) {
    float v[OPT];
#pragma unroll
    for (int o = 0; o < OPT; ++o) v[o] = load(o);
    for (int j = 0; j < k; ++j) {
      fma_window(w[j * wstep], v, acc);
      if (j + 1 < k) slide_window(v, load(OPT + j));
    }
    return;
  }
  float ve[OPT], vo[OPT] = {};
#pragma unroll
  for (int o = 0; o < OPT; ++o) ve[o] = load(2 * o);
  if (k > 1) {
#pragma unroll
    for (int o = 0; o < OPT; ++o) vo[o] = load(2 * o + 1);
  }
  for (int j = 0; j < k; j += 2) {
    fma_window(w[j * wstep], ve, acc);
    if (j + 1 < k) fma_window(w[(j + 1) * wstep], vo, acc);
    if (j + 2 < k) slide_window(ve, load(2 * OPT + j));
    if (j + 3 < k) slide_window(vo, load(2 * OPT + j + 1));
  }
}
template <int OPT>
__device__ __forceinline__ void conv_line_any(const float* src, int step, int s, int k,
                                              const float* w, int wstep, float (&acc)[OPT]) {
  conv_window_any<OPT>([&](int q) { return src[q * step]; }, s, k, w, wstep, acc);
}

// Taps read from w[j * wstep]; dispatches on the stride so that the fixed-K
// path is unrolled for both (each branch loads its taps: loading them before
// the branch costs the 7x7 / 9x9 kernels 8-24 more registers), else the
// sliding window.
template <int K, int OPT>
__device__ __forceinline__ void conv_line(const float* src, int step, int s, int k, const float* w,
                                          int wstep, float (&acc)[OPT]) {
  if constexpr (K > 0) {
    if (s == 1)
      conv_line_fixed<K, 1, OPT>(src, step, w, wstep, acc);
    else
      conv_line_fixed<K, 2, OPT>(src, step, w, wstep, acc);
  } else {
    conv_line_any<OPT>(src, step, s, k, w, wstep, acc);
  }
}

}  // namespace xsep::kernels
