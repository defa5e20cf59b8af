// The lowering pass's state (lower.cpp): one Lowerer walks the IR once and
// builds the CUDA backend's Program. Its steps are split by job:
//   lower.cpp         the walk, graph queries, epilogue absorption, storage;
//   lower_fusion.cpp  the fused patterns (XSepConv chain, depthwise operators,
//                     pointwise conv as GEMM, GAP + SE, SE channel scales);
//   lower_ops.cpp     one step per remaining node (general conv, elementwise,
//                     BatchNorm, views, Concat, Split, Gemm, MatMul).
// Internal to lower() (program.h); nothing else includes it.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "program.h"

namespace xsep::graph::detail {

using kernels::graph::Act;
using kernels::graph::ActKind;
using kernels::graph::EltOp;

struct ConvInfo {
  int64_t n, ci, h, w, co, ho, wo, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group;
  const Value* weight;
  const Value* bias;  // null: none
};

struct Lowerer {
  const Graph& g;
  Program prog;
  std::vector<std::vector<int>> consumers;  // value -> consuming node indices
  std::vector<int> producer;                // value -> node index (-1: input/constant)
  std::vector<bool> done;                   // node absorbed or lowered
  std::set<int> outputs;
  std::vector<int> pending_kscale;          // value (Mul output) -> SE scale value folded into its consumer
  std::vector<int> pending_kscale_src;      // value (Mul output) -> the unscaled input

  explicit Lowerer(const Graph& graph);

  // ---- Graph queries ---------------------------------------------------------
  // The node that alone consumes v, if its op is `op` (and v is no graph output).
  int single_consumer(int v, const std::string& op) const;
  const Value& val(int v) const { return g.value(v); }
  const std::vector<int64_t>& shape(int v) const { return g.value(v).shape; }

  ConvInfo conv_info(const Node& n) const;

  // A depthwise conv the C API's operators can take: besides the shape, C, H and W
  // within its side limit (above XSEP_MAX_SIDE is UNSUPPORTED). Larger ones go to
  // the general conv kernel, decided here at load rather than failing at the
  // first run.
  static bool is_depthwise(const ConvInfo& c);
  bool is_conv(int node) const { return node >= 0 && g.nodes[node].op == "Conv"; }

  // A 2x2 depthwise conv with one zero row and column on two adjacent sides.
  std::optional<xsep_pad> as_2x2(int node) const;

  // 1xK (axis 1) or Kx1 (axis 0) depthwise with "same" padding; returns K and stride.
  bool as_line(int node, int axis, int* k, int* s) const;

  // ---- Epilogues ---------------------------------------------------------------
  struct Absorbed {
    int out;
    std::vector<float> scale, bias;  // scale empty: 1
    Act act;
    xsep_activation api_act = XSEP_ACT_NONE;
    std::string text;  // "+BN+HS" for labels
  };

  // Activation node -> kernel activation (nullopt: not fusable).
  std::optional<Act> activation_of(const Node& n) const;
  static std::optional<xsep_activation> api_activation(const Act& a);

  // From a conv output v with C channels (and optional conv bias): absorbs a
  // following BatchNormalization and activation. api_only: only activations the
  // C API epilogue has (NONE, RELU, RELU6, HARDSWISH).
  Absorbed absorb(int v, int64_t channels, const Value* conv_bias, bool api_only);

  static HostEpilogue host_epilogue(const Absorbed& a);

  // ---- Storage ----------------------------------------------------------------
  bool nhwc(int v) const { return prog.storage[v].nhwc; }
  // Element strides of value v per logical dim (NCHW order for rank 4).
  std::vector<int64_t> strides(int v) const;
  // Spatial outputs keep their input's layout when they have more than one pixel.
  void set_layout_like(int out, int in);

  Step& add(StepKind kind, const std::string& label, std::vector<int> inputs, int output);

  // ---- Patterns ---------------------------------------------------------------
  // SYMMETRIC 2x2 written as Split(axis 1) -> one 2x2 conv per group -> Concat(axis 1).
  // Returns the Concat node, filling the direction-ordered weights and bias.
  int match_symmetric(int split, std::vector<float>* w, std::vector<float>* bias);

  // The XSepConv chain from a 2x2 conv or a SYMMETRIC Split at node `start`.
  bool try_xsepconv(int start);

  // A depthwise conv our C API runs as one operator.
  bool try_dwconv(int node);

  // Pointwise conv as a GEMM per image, with BN folded into the weights, the
  // activation or a residual Add (the Add only after no activation) and an SE
  // channel scale fused.
  bool try_pointwise(int node);

  void lower_conv(int node);

  // GlobalAveragePool, and when it starts an SE block (GAP -> 1x1 conv -> act ->
  // 1x1 conv -> act) the two FC layers as one more launch.
  void lower_gap(int node);

  // A 1x1 conv on a 1x1 input without padding: a fully-connected layer with a
  // 1x1 output (a padded one is a valid ONNX conv whose other outputs are
  // bias only, which se_fc would not write).
  bool is_fc_conv(int node, int64_t in_c) const;

  void try_se(int pooled);

  // Mul(x, s) with s [N,C,1,1] whose only consumer is a pointwise conv: the
  // conv multiplies its input channels by s while loading (no launch here).
  bool try_fold_channel_scale(int node);

  // ---- Elementwise and data movement ------------------------------------------
  // Strides of value v broadcast to an output of rank r (right-aligned, 0 on
  // broadcast dims).
  std::vector<int64_t> broadcast_strides(int v, const std::vector<int64_t>& out_shape) const;

  // y (value out, or the slice of it at y_offset with strides y_st) = act(op(a, b)).
  Step& add_elt(const std::string& label, EltOp op, int a, const std::vector<float>* a_const, int b,
                const std::vector<float>* b_const, Act act, int out, const std::vector<int64_t>& dims,
                std::vector<int64_t> a_st, std::vector<int64_t> b_st, std::vector<int64_t> y_st,
                int64_t a_off = 0, int64_t y_off = 0);

  // Output layout of an elementwise op: like its first same-shaped input.
  void set_elt_layout(const Node& n);

  void lower_binary(int node);

  // Following activation only (for ops without a channel epilogue).
  Absorbed absorb_act_only(int v);

  void lower_activation(int node);

  // Standalone BatchNormalization: y = x * scale[c] + bias[c] in one MulAdd
  // pass of [C] constants broadcast over the other dims (two passes would round
  // x * scale to the activation dtype first: in float16 that error is relative
  // to x * scale, which a cancelling bias can make far larger than y).
  void lower_batchnorm(int node);

  // Identity, Dropout, Reshape, Flatten: a view of the input when it is stored
  // row-major, else a copy into row-major order.
  void lower_view(int node);

  void lower_concat(int node);

  void lower_split(int node);

  // Gemm: Y = alpha * A' B' + beta * C, then a fused activation.
  void lower_gemm(int node);

  // MatMul (numpy semantics) where the batch dims of one side are absent or
  // equal to the other's.
  void lower_matmul(int node);

  void lower_node(int node);

  Program run(xsep_dtype dtype, xsep_layout layout);
};

}  // namespace xsep::graph::detail
