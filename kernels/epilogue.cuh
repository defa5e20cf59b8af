// The fused epilogue of every operator, y = act(acc * scale[c] + bias[c])
// (SPEC 2.4), and the NaN-keeping clamps it and the graph kernels' activations
// use.
#pragma once

#include "device_common.cuh"

namespace xsep::kernels {

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

}  // namespace xsep::kernels
