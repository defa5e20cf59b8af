// What every kernel file shares: the CUDA-or-emulator includes, the dynamic
// shared memory declaration, the one launch helper, float16 <-> float32
// conversion, and the per-channel work layout (SYMMETRIC padding's channel
// groups, a thread's fixed channel). The fused epilogue is in epilogue.cuh,
// the register-blocked 1-D convolution in conv_window.cuh.
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

// Launches kernel(params) on `stream` and returns the launch's error.
template <typename Params>
cudaError_t launch_kernel(void (*kernel)(Params), dim3 grid, dim3 block, size_t smem_bytes,
                          cudaStream_t stream, const Params& params) {
  if (smem_bytes > 48 * 1024) {
    if (cudaError_t e = raise_smem_limit(reinterpret_cast<const void*>(kernel), smem_bytes)) return e;
  }
#if defined(XSEP_EMU)
  (void)stream;  // the emulated device (which also requires the opt-in) runs it now
  return ::xsep::emu::launch(reinterpret_cast<const void*>(kernel), grid, block, smem_bytes,
                             [&] { kernel(params); });
#else
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

}  // namespace xsep::kernels
