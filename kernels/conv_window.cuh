// The register-blocked 1-D convolution every depthwise pass is built from: a
// window of outputs per thread along one axis of a shared-memory tile (or of a
// ring of rows), taps in registers for a compile-time K, a sliding window for
// a run-time one.
#pragma once

#include "device_common.cuh"

namespace xsep::kernels {

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
