// The CUDA backend's program: the graph after fusion, as a list of steps that
// each become one kernel launch (or none, for views). Produced by lower.cpp
// from the IR, executed by cuda_backend.cpp. Device-independent: it names
// values of the Graph and carries host copies of the (folded) weights.
#pragma once

#include <string>
#include <vector>

#include "../../kernels/graph/graph_kernels.h"
#include "ir.h"

namespace xsep::graph {

// A fused per-channel epilogue in host memory: y = act(acc * scale + bias).
struct HostEpilogue {
  std::vector<float> scale, bias;  // empty: absent
  xsep_activation act = XSEP_ACT_NONE;
};

enum class StepKind {
  kDwConv,    // xsep_dwconv2x2 / 1xk / kx1 / kxk (C API)
  kXSepConv,  // xsep_xsepconv (C API): the fused 2x2 -> 1xK -> Kx1 chain
  kConv,      // graph kernel conv2d (any ONNX Conv)
  kGemm,      // graph kernel gemm: pointwise conv, Gemm, MatMul
  kGap,       // global average pool
  kSeFc,      // the SE block's two FC layers
  kElt,       // elementwise (binary op, activation, layout conversion, concat/split slices)
};

// Which C API depthwise operator a kDwConv step calls.
enum class DwOp { k2x2, k1xK, kKx1, kKxK };

struct Step {
  StepKind kind;
  std::string label;        // for the summary, e.g. "block5: XSepConv K=5 BR +BN+HS x3"
  std::vector<int> inputs;  // values read (for lifetimes)
  int output = -1;          // the value written
  double macs = 0;          // multiply-accumulates of this step, whole batch

  // kDwConv / kXSepConv
  DwOp dw_op = DwOp::kKxK;
  int k = 0, stride = 1;
  xsep_pad pad = XSEP_PAD_TOP_LEFT;
  // The C API's names: dw uses w and ep; xsep w and ep for its 2x2 pass, then
  // w1xk / ep1xk and wkx1 / epkx1.
  std::vector<float> w, w1xk, wkx1;
  HostEpilogue ep, ep1xk, epkx1;

  // kConv: args without pointers; weights / bias in w / bias
  kernels::graph::ConvArgs conv;
  std::vector<float> bias;

  // kGemm: args without pointers. Operand sources: value ids or constants.
  kernels::graph::GemmArgs gemm;
  int gemm_a = -1, gemm_b = -1, gemm_c = -1, gemm_kscale = -1;  // value ids (-1: none)
  std::vector<float> gemm_a_const, gemm_b_const, gemm_c_const;  // constant operands (weights)

  // kGap / kSeFc / kElt
  kernels::graph::GapArgs gap;
  kernels::graph::SeArgs se;
  std::vector<float> se_w1, se_b1, se_w2, se_b2;
  kernels::graph::EltArgs elt;
  int elt_a = -1, elt_b = -1;           // value ids (-1: constant)
  std::vector<float> elt_a_const, elt_b_const, elt_c_const;  // c: kMulAdd's addend (always constant)
  int64_t elt_a_offset = 0, elt_y_offset = 0;  // element offsets of a and y (Split / Concat slices)
};

// How a value is stored by the backend.
struct Storage {
  bool nhwc = false;  // rank-4 activation stored channels-last
  int alias_of = -1;  // a view of another value's storage (Reshape, Flatten, Identity, ...)
};

struct Program {
  std::vector<Step> steps;
  std::vector<Storage> storage;  // per value id
  xsep_dtype dtype = XSEP_DTYPE_F32;
  xsep_layout layout = XSEP_LAYOUT_NCHW;

  // The value whose buffer v's storage is (v itself unless v is a view).
  int storage_root(int v) const {
    while (storage[static_cast<size_t>(v)].alias_of >= 0) v = storage[static_cast<size_t>(v)].alias_of;
    return v;
  }
};

// Fuses g into a program for the given activation dtype and layout. Throws
// GraphError(UNSUPPORTED) for a construct the CUDA backend cannot run.
Program lower(const Graph& g, xsep_dtype dtype, xsep_layout layout);

}  // namespace xsep::graph
