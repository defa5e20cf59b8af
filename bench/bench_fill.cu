// Device-side helpers of xsep_bench (bench_fill.h): a counter-based random fill
// and a non-finite counter, both grid-stride loops.
#include <cuda_fp16.h>

#include "bench_fill.h"

namespace xsep_bench {
namespace {

// splitmix64 of (seed, index): independent of launch shape, so a buffer's
// contents depend only on its seed.
__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void fill_kernel(void* p, size_t count, bool f16, float lo, float hi, uint64_t seed) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const float u = float(mix(seed * 0x100000001b3ull + i) >> 40) * (1.0f / 16777216.0f);
    const float v = lo + (hi - lo) * u;
    if (f16)
      static_cast<__half*>(p)[i] = __float2half_rn(v);
    else
      static_cast<float*>(p)[i] = v;
  }
}

__global__ void nonfinite_kernel(const void* p, size_t count, bool f16, unsigned long long* out) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  unsigned long long bad = 0;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const float v = f16 ? __half2float(static_cast<const __half*>(p)[i]) : static_cast<const float*>(p)[i];
    bad += isfinite(v) ? 0 : 1;
  }
  if (bad) atomicAdd(out, bad);
}

unsigned grid_for(size_t count) {
  const size_t blocks = (count + 255) / 256;
  return static_cast<unsigned>(blocks < 4096 ? (blocks ? blocks : 1) : 4096);
}

}  // namespace

cudaError_t fill_uniform(void* p, size_t count, bool f16, float lo, float hi, uint64_t seed,
                         cudaStream_t stream) {
  fill_kernel<<<grid_for(count), 256, 0, stream>>>(p, count, f16, lo, hi, seed);
  return cudaGetLastError();
}

cudaError_t count_nonfinite(const void* p, size_t count, bool f16, unsigned long long* d_count,
                            cudaStream_t stream) {
  nonfinite_kernel<<<grid_for(count), 256, 0, stream>>>(p, count, f16, d_count);
  return cudaGetLastError();
}

}  // namespace xsep_bench
