// What the graph kernels share: the fused activation, loads and stores of an
// activation operand whose dtype is known only at run time (float32 or
// float16, a warp-uniform branch), and small host helpers.
#pragma once

#include "../device_common.cuh"
#include "../epilogue.cuh"
#include "graph_kernels.h"

namespace xsep::kernels::graph {

// The activation applied after every graph kernel's epilogue (graph_kernels.h);
// NaN in, NaN out (max_keep_nan in epilogue.cuh), as ONNX Runtime.
__device__ __forceinline__ float apply_act(const Act& a, float v) {
  switch (a.kind) {
    case ActKind::kRelu: return max_keep_nan(v, 0.f);
    case ActKind::kClip: return clamp_keep_nan(v, a.lo, a.hi);
    case ActKind::kHardSwish: return v * clamp_keep_nan(v + 3.f, 0.f, 6.f) * (1.f / 6.f);
    case ActKind::kHardSigmoid: return clamp_keep_nan(fmaf(a.alpha, v, a.beta), 0.f, 1.f);
    default: return v;
  }
}

// Element i of an operand stored as float16 (f16) or float32, as float.
__device__ __forceinline__ float load_act(const void* p, int64_t i, bool f16) {
  return f16 ? to_float(static_cast<const __half*>(p)[i]) : static_cast<const float*>(p)[i];
}

// Stores v at element i of a float16 (f16) or float32 array.
__device__ __forceinline__ void store_act(void* p, int64_t i, bool f16, float v) {
  if (f16)
    static_cast<__half*>(p)[i] = from_float<__half>(v);
  else
    static_cast<float*>(p)[i] = v;
}

// Loads element i of a T array (float or __half) as float.
template <typename T>
__device__ __forceinline__ float load_t(const T* p, int64_t i) {
  return to_float(p[i]);
}

// ---- Host helpers -----------------------------------------------------------
// The entry points of graph_kernels.h are exported from the shared library
// that holds them even in a -fvisibility=hidden build, so that the kernel
// tests (tests/graph_kernels) can call them.
#define XSEP_GRAPH_EXPORT __attribute__((visibility("default")))

constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;  // 32-bit index math in kernels
constexpr int64_t kMaxGridBlocks = (int64_t{1} << 31) - 1;  // gridDim.x (every launch is 1-D)
constexpr int kInvalid = static_cast<int>(cudaErrorInvalidValue);

inline int64_t div_up64(int64_t v, int64_t m) { return (v + m - 1) / m; }

// Blocks of a grid-stride launch over `total` items, kThreads per block.
inline unsigned grid_stride_blocks(int64_t total) {
  const int64_t blocks = div_up64(total, kThreads);
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? blocks : (int64_t{1} << 20));
}

}  // namespace xsep::kernels::graph
