// Fusion and lowering of the IR into the CUDA backend's program (program.h).
//
// Walks the nodes in order; at each node not yet absorbed it tries, in turn:
//   - the XSepConv chain: 2x2 depthwise (one of the four directional pads, or
//     Split -> four 2x2 -> Concat for SYMMETRIC) [+BN][+act] -> 1xK depthwise
//     [+BN][+act] -> Kx1 depthwise [+BN][+act]  => one xsep_xsepconv;
//   - any other depthwise conv our C API provides (2x2, 1xK, Kx1, KxK)
//     [+bias][+BN][+act]                        => one xsep_dwconv*;
//   - pointwise conv [+BN][+act | +residual Add], with an SE channel scale
//     (Mul) folded into its input                => one gemm;
//   - GlobalAveragePool -> 1x1 conv -> act -> 1x1 conv -> act (SE)
//                                                => gap + se_fc;
//   - everything else one step per node (general conv2d, gemm, elementwise),
//     views for Identity / Dropout / Reshape / Flatten.
// An intermediate is absorbed only when its single consumer is the next op of
// the pattern and it is not a graph output.
//
// The Lowerer (lowerer.h) is split by job: this file walks the nodes and holds
// the graph queries, epilogue absorption and storage helpers; lower_fusion.cpp
// the patterns above; lower_ops.cpp the one-step-per-node lowering.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "conv_geometry.h"
#include "lowerer.h"

namespace xsep::graph {
namespace detail {

Lowerer::Lowerer(const Graph& graph) : g(graph) {
  consumers.resize(g.values.size());
  producer.assign(g.values.size(), -1);
  pending_kscale.assign(g.values.size(), -1);
  pending_kscale_src.assign(g.values.size(), -1);
  done.assign(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int v : g.nodes[i].in)
      if (v >= 0) consumers[v].push_back(static_cast<int>(i));
    for (int v : g.nodes[i].out)
      if (v >= 0) producer[v] = static_cast<int>(i);
  }
  outputs.insert(g.outputs.begin(), g.outputs.end());
  prog.storage.resize(g.values.size());
}

int Lowerer::single_consumer(int v, const std::string& op) const {
  if (v < 0 || outputs.count(v) || consumers[v].size() != 1) return -1;
  const int n = consumers[v][0];
  if (done[n] || g.nodes[n].op != op) return -1;
  return n;
}

ConvInfo Lowerer::conv_info(const Node& n) const {
  ConvInfo c{};
  const auto& xs = shape(n.in[0]);
  c.weight = &val(n.in[1]);
  c.bias = n.in.size() > 2 && n.in[2] >= 0 ? &val(n.in[2]) : nullptr;
  const auto& ws = c.weight->shape;
  const auto& ys = shape(n.out[0]);
  c.n = xs[0], c.ci = xs[1], c.h = xs[2], c.w = xs[3];
  c.co = ws[0], c.kh = ws[2], c.kw = ws[3];
  c.ho = ys[2], c.wo = ys[3];
  c.group = n.attr_i("group", 1);
  const auto st = n.attr_ints("strides", {1, 1});
  const auto di = n.attr_ints("dilations", {1, 1});
  c.sh = st[0], c.sw = st[1], c.dh = di[0], c.dw = di[1];
  // Padding as the loader checked it against the inferred output shape.
  const std::string ap = n.attr_s("auto_pad", "NOTSET");
  const auto p = n.attr_ints("pads", {0, 0, 0, 0});
  const ConvAxis ah = conv_axis(ap, c.h, c.kh, c.sh, c.dh, p[0], p[2]);
  const ConvAxis aw = conv_axis(ap, c.w, c.kw, c.sw, c.dw, p[1], p[3]);
  c.pt = ah.pad_begin, c.pb = ah.pad_end, c.pl = aw.pad_begin, c.pr = aw.pad_end;
  if (!c.weight->constant) unsupported(n.label() + ": convolution weights must be constant");
  if (c.bias && !c.bias->constant) unsupported(n.label() + ": convolution bias must be constant");
  return c;
}

bool Lowerer::is_depthwise(const ConvInfo& c) {
  return c.group == c.ci && c.co == c.ci && c.weight->shape[1] == 1 && c.dh == 1 && c.dw == 1 &&
         c.ci <= XSEP_MAX_SIDE && c.h <= XSEP_MAX_SIDE && c.w <= XSEP_MAX_SIDE;
}

std::optional<xsep_pad> Lowerer::as_2x2(int node) const {
  if (!is_conv(node)) return std::nullopt;
  const ConvInfo c = conv_info(g.nodes[node]);
  if (!is_depthwise(c) || c.kh != 2 || c.kw != 2 || c.sh != 1 || c.sw != 1) return std::nullopt;
  if (c.pt + c.pb != 1 || c.pl + c.pr != 1) return std::nullopt;
  if (c.pt && c.pl) return XSEP_PAD_TOP_LEFT;
  if (c.pt && c.pr) return XSEP_PAD_TOP_RIGHT;
  if (c.pb && c.pl) return XSEP_PAD_BOTTOM_LEFT;
  return XSEP_PAD_BOTTOM_RIGHT;
}

bool Lowerer::as_line(int node, int axis, int* k, int* s) const {
  if (!is_conv(node)) return false;
  const ConvInfo c = conv_info(g.nodes[node]);
  if (!is_depthwise(c)) return false;
  const int64_t kk = axis == 1 ? c.kw : c.kh, other = axis == 1 ? c.kh : c.kw;
  const int64_t ss = axis == 1 ? c.sw : c.sh, os = axis == 1 ? c.sh : c.sw;
  const int64_t p0 = axis == 1 ? c.pl : c.pt, p1 = axis == 1 ? c.pr : c.pb;
  const int64_t q0 = axis == 1 ? c.pt : c.pl, q1 = axis == 1 ? c.pb : c.pr;
  if (other != 1 || os != 1 || q0 || q1 || kk % 2 == 0 || kk > 31 || p0 != kk / 2 || p1 != kk / 2)
    return false;
  if (ss != 1 && ss != 2) return false;
  *k = static_cast<int>(kk), *s = static_cast<int>(ss);
  return true;
}

std::optional<Act> Lowerer::activation_of(const Node& n) const {
  Act a;
  if (n.op == "Relu") a.kind = ActKind::kRelu;
  else if (n.op == "HardSwish") a.kind = ActKind::kHardSwish;
  else if (n.op == "HardSigmoid") {
    a.kind = ActKind::kHardSigmoid;
    a.alpha = n.attr_f("alpha", 0.2f), a.beta = n.attr_f("beta", 0.5f);
  } else if (n.op == "Clip") {
    a.kind = ActKind::kClip;
    // ONNX's defaults (ir.h): Clip without a max turns +inf into FLT_MAX, as
    // onnxruntime and the reference backend do, so such a Clip is not the
    // API's ReLU: it is not fused into a depthwise or XSepConv epilogue and
    // runs as its own elementwise pass (correct, one extra pass; write ReLU
    // as Relu, or Clip with an explicit +inf max, to have it fused).
    a.lo = kClipDefaultMin, a.hi = kClipDefaultMax;
    if (g.opset < 11) {
      a.lo = n.attr_f("min", a.lo), a.hi = n.attr_f("max", a.hi);
    } else {
      for (size_t i = 1; i < n.in.size(); ++i) {
        if (n.in[i] < 0) continue;
        const Value& b = val(n.in[i]);
        if (!b.constant || b.f.size() != 1) return std::nullopt;
        (i == 1 ? a.lo : a.hi) = b.f[0];
      }
    }
  } else {
    return std::nullopt;
  }
  return a;
}

std::optional<xsep_activation> Lowerer::api_activation(const Act& a) {
  switch (a.kind) {
    case ActKind::kNone: return XSEP_ACT_NONE;
    case ActKind::kRelu: return XSEP_ACT_RELU;
    case ActKind::kHardSwish: return XSEP_ACT_HARDSWISH;
    case ActKind::kClip:
      if (a.lo == 0.f && a.hi == 6.f) return XSEP_ACT_RELU6;
      if (a.lo == 0.f && a.hi == INFINITY) return XSEP_ACT_RELU;
      return std::nullopt;
    default: return std::nullopt;
  }
}

Lowerer::Absorbed Lowerer::absorb(int v, int64_t channels, const Value* conv_bias, bool api_only) {
  Absorbed a;
  a.out = v;
  a.bias.assign(static_cast<size_t>(channels), 0.f);
  if (conv_bias) a.bias = conv_bias->f;
  const int bn = single_consumer(v, "BatchNormalization");
  if (bn >= 0 && g.nodes[bn].in[0] == v) {
    const Node& n = g.nodes[bn];
    bool consts = true;
    for (int i = 1; i < 5; ++i) consts = consts && val(n.in[i]).constant;
    if (consts) {
      const auto &gamma = val(n.in[1]).f, &beta = val(n.in[2]).f, &mean = val(n.in[3]).f,
                 &var = val(n.in[4]).f;
      const float eps = n.attr_f("epsilon", 1e-5f);
      a.scale.resize(static_cast<size_t>(channels));
      for (size_t c = 0; c < a.scale.size(); ++c) {
        const double s = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
        a.scale[c] = static_cast<float>(s);
        a.bias[c] = static_cast<float>((a.bias[c] - mean[c]) * s + beta[c]);
      }
      done[bn] = true;
      a.out = n.out[0];
      a.text += "+BN";
    }
  }
  if (!consumers[a.out].empty() && consumers[a.out].size() == 1 && !outputs.count(a.out)) {
    const int an = consumers[a.out][0];
    const Node& n = g.nodes[an];
    if (!done[an] && n.in[0] == a.out) {
      if (auto act = activation_of(n)) {
        auto api = api_activation(*act);
        if (!api_only || api) {
          a.act = *act;
          if (api) a.api_act = *api;
          done[an] = true;
          a.out = n.out[0];
          a.text += "+" + n.op;
        }
      }
    }
  }
  return a;
}

HostEpilogue Lowerer::host_epilogue(const Absorbed& a) {
  HostEpilogue e;
  e.scale = a.scale;
  e.bias = a.bias;
  e.act = a.api_act;
  if (std::all_of(e.bias.begin(), e.bias.end(), [](float b) { return b == 0.f; })) e.bias.clear();
  return e;
}

std::vector<int64_t> Lowerer::strides(int v) const {
  const auto& s = shape(v);
  std::vector<int64_t> st(s.size(), 1);
  if (s.size() == 4 && nhwc(v)) {
    st = {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]};
    return st;
  }
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}

void Lowerer::set_layout_like(int out, int in) {
  const auto& s = shape(out);
  prog.storage[out].nhwc = s.size() == 4 && s[2] * s[3] > 1 && nhwc(in);
}

Step& Lowerer::add(StepKind kind, const std::string& label, std::vector<int> inputs, int output) {
  Step s;
  s.kind = kind;
  s.label = label;
  s.inputs = std::move(inputs);
  s.output = output;
  prog.steps.push_back(std::move(s));
  return prog.steps.back();
}

void Lowerer::lower_node(int node) {
  const Node& n = g.nodes[node];
  for (int v : n.in)
    if (v >= 0 && !val(v).constant && val(v).dtype != DType::kFloat)
      unsupported(n.label() + ": non-float input on the cuda backend");
  // Constants live on the host (weights, epilogues, the operands of the ops
  // below); the activation memory holds only computed values, so a constant
  // as the data input of any other op would be read from unwritten memory.
  const bool takes_constant_data =
      n.op == "Add" || n.op == "Mul" || n.op == "Concat" || n.op == "Gemm" || n.op == "MatMul";
  if (!takes_constant_data && val(n.in[0]).constant)
    unsupported(n.label() + ": its input '" + val(n.in[0]).name +
                "' is a constant; the cuda backend takes constants as weights and as operands of Add, Mul, "
                "Concat, Gemm and MatMul only (fold it into the model, or use the reference backend)");
  if (n.op == "Conv") {
    if (try_xsepconv(node) || try_dwconv(node) || try_pointwise(node)) return;
    return lower_conv(node);
  }
  if (n.op == "Split" && try_xsepconv(node)) return;
  if (n.op == "Mul" && try_fold_channel_scale(node)) return;
  if (n.op == "Add" || n.op == "Mul") return lower_binary(node);
  if (n.op == "Relu" || n.op == "Clip" || n.op == "HardSwish" || n.op == "HardSigmoid")
    return lower_activation(node);
  if (n.op == "BatchNormalization") return lower_batchnorm(node);
  if (n.op == "GlobalAveragePool") return lower_gap(node);
  if (n.op == "Identity" || n.op == "Dropout" || n.op == "Reshape" || n.op == "Flatten")
    return lower_view(node);
  if (n.op == "Concat") return lower_concat(node);
  if (n.op == "Split") return lower_split(node);
  if (n.op == "Gemm") return lower_gemm(node);
  if (n.op == "MatMul") return lower_matmul(node);
  unsupported(n.label() + ": not supported by the cuda backend");
}

Program Lowerer::run(xsep_dtype dtype, xsep_layout layout) {
  prog.dtype = dtype;
  prog.layout = layout;
  // Graph inputs are converted to NHWC at upload when every consumer is a
  // convolution (the layout then flows through the spatial ops); inputs read
  // by anything else (MatMul, Reshape, ...) stay row-major.
  for (int v : g.inputs) {
    const auto& s = shape(v);
    bool convs_only = !consumers[v].empty();
    for (int n : consumers[v]) convs_only = convs_only && g.nodes[n].op == "Conv" && g.nodes[n].in[0] == v;
    prog.storage[v].nhwc = layout == XSEP_LAYOUT_NHWC && s.size() == 4 && s[2] * s[3] > 1 && convs_only;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!done[i]) lower_node(static_cast<int>(i));
  for (int v : g.outputs)
    if (val(v).constant) unsupported("graph output '" + val(v).name + "' is a constant");
  return std::move(prog);
}

}  // namespace detail

Program lower(const Graph& g, xsep_dtype dtype, xsep_layout layout) {
  detail::Lowerer l(g);
  return l.run(dtype, layout);
}

}  // namespace xsep::graph
