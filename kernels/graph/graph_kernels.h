// Host-side entry points of the graph runner's general kernels (everything a
// network needs besides the depthwise / XSepConv operators of the C API):
// strided batched GEMM with fused epilogue (pointwise convolutions, Gemm,
// MatMul), direct convolution, strided broadcasting elementwise ops (also
// layout conversion, Concat, Split), global average pooling and the SE block's
// two small fully-connected layers. Plain C++ (no CUDA header).
// Each returns 0 on success (also for empty work, launching nothing), else a
// CUDA error code: cudaErrorInvalidValue for bad arguments (negative sizes,
// null pointers, groups not dividing the channels, rank > 6, more than 2^31
// elements), else the launch's error. The definitions are exported from the
// library (XSEP_GRAPH_EXPORT) so that their tests can call them directly.
//
// Element types: activations are float32 or float16 (`*_f16` flags), weights
// and biases always float32 (an Operand with f16 = false); arithmetic is
// float32. Strides are in elements and may be 0 (broadcast).
//
// Aliasing: y may be the same memory as gemm's C, or as elementwise's a or b
// with identical strides (each element is read and written by one thread);
// any other overlap of an output with an input is undefined.
#pragma once

#include <cstdint>

#include "xsep/xsep.h"

namespace xsep::kernels::graph {

// Activations fused after an epilogue.
enum class ActKind : int {
  kNone = 0,
  kRelu = 1,
  kClip = 2,         // min(max(v, lo), hi): Relu6 is Clip(0, 6)
  kHardSwish = 3,    // v * min(max(v + 3, 0), 6) / 6
  kHardSigmoid = 4,  // min(max(alpha * v + beta, 0), 1)
};
struct Act {
  ActKind kind = ActKind::kNone;
  float lo = 0, hi = 0;        // kClip
  float alpha = 0, beta = 0;   // kHardSigmoid
};

// An activation tensor operand: its data and storage type.
struct Operand {
  const void* data = nullptr;
  bool f16 = false;
};

// y[b][m][n] = act( alpha * sum_k A[b][m][k] * kscale[b][k] * B[b][k][n]
//                   + bias[m or n] + beta * C[b][m][n] )
// A, B: activations or float32 weights; kscale (optional, the SE block's
// per-channel multiplier folded into a pointwise convolution): [batch][K] with
// strides ks_b, ks_k; C (optional): a residual or Gemm's C.
struct GemmArgs {
  int batch = 1, m = 0, n = 0, k = 0;
  Operand a;
  int64_t a_b = 0, a_m = 0, a_k = 0;
  Operand b;
  int64_t b_b = 0, b_k = 0, b_n = 0;
  Operand kscale;  // data == nullptr: none
  int64_t ks_b = 0, ks_k = 0;
  Operand c;       // data == nullptr: none
  int64_t c_b = 0, c_m = 0, c_n = 0;
  float alpha = 1.f, beta = 1.f;
  const float* bias = nullptr;
  int bias_axis = 0;  // 0: no bias (bias must be null), 1: bias[m], 2: bias[n]
  Act act;
  void* y = nullptr;
  bool y_f16 = false;
  int64_t y_b = 0, y_m = 0, y_n = 0;
};
int gemm(const GemmArgs& args, cudaStream_t stream);

// 2-D convolution in full ONNX generality (groups, strides, dilations, pads):
//   y(n, co, oh, ow) = act( bias[co] + sum_{ci in group(co), i, j}
//       w[co][ci - g*cig][i][j] * x(n, ci, sh*oh - pt + dh*i, sw*ow - pl + dw*j) ),  x = 0 outside.
// x and y are NCHW or NHWC (nhwc flag, both the same).
struct ConvArgs {
  int n = 0, ci = 0, h = 0, w = 0, co = 0, ho = 0, wo = 0;
  int kh = 0, kw = 0, sh = 1, sw = 1, pt = 0, pl = 0, dh = 1, dw = 1, group = 1;
  Operand x;
  const float* weights = nullptr;  // [co][ci/group][kh][kw]
  const float* bias = nullptr;     // [co] or null
  Act act;
  void* y = nullptr;
  bool y_f16 = false;
  bool nhwc = false;
};
int conv2d(const ConvArgs& args, cudaStream_t stream);

// Elementwise over an index space of `rank` <= 6 dims (out_dims), with strides
// per operand (0 = broadcast):
//   y[i] = act( op(a[i], b[i]) ),  op: kCopy (a), kAdd (a + b), kMul (a * b),
//   kMulAdd (a * b + c, one rounding; c is read with b's strides: a standalone
//   BatchNormalization's per-channel scale and bias in one pass).
// Copy with different strides converts layouts and implements Concat / Split
// (pointer offsets select the slice).
enum class EltOp : int { kCopy = 0, kAdd = 1, kMul = 2, kMulAdd = 3 };
struct EltArgs {
  int rank = 0;
  int64_t dims[6] = {};
  EltOp op = EltOp::kCopy;
  Operand a;
  int64_t a_stride[6] = {};
  Operand b;  // unused for kCopy
  int64_t b_stride[6] = {};
  Operand c;  // kMulAdd only, at b's offsets
  Act act;
  void* y = nullptr;
  bool y_f16 = false;
  int64_t y_stride[6] = {};
};
int elementwise(const EltArgs& args, cudaStream_t stream);

// Global average pooling: y(n, c) = mean over p < hw of x at n*x_n + c*x_c + p*x_p.
// y is written at n*y_n + c*y_c.
struct GapArgs {
  int n = 0, c = 0, hw = 0;
  Operand x;
  int64_t x_n = 0, x_c = 0, x_p = 0;
  void* y = nullptr;
  bool y_f16 = false;
  int64_t y_n = 0, y_c = 0;
};
int global_avg_pool(const GapArgs& args, cudaStream_t stream);

// The squeeze-and-excitation block's two fully-connected layers, per image n:
//   h = act1(W1 g_n + b1)  (W1: [mid][c]),  s_n = act2(W2 h + b2)  (W2: [c][mid])
// g: [n][c] (the pooled input, activation dtype, contiguous), s: [n][c].
struct SeArgs {
  int n = 0, c = 0, mid = 0;
  Operand g;
  const float* w1 = nullptr;
  const float* b1 = nullptr;  // may be null
  Act act1;
  const float* w2 = nullptr;
  const float* b2 = nullptr;  // may be null
  Act act2;
  void* s = nullptr;
  bool s_f16 = false;
};
int se_fc(const SeArgs& args, cudaStream_t stream);

}  // namespace xsep::kernels::graph
