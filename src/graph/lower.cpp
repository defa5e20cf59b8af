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
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>

#include "conv_geometry.h"
#include "program.h"

namespace xsep::graph {
namespace {

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

  explicit Lowerer(const Graph& graph) : g(graph) {
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

  // ---- Graph queries ---------------------------------------------------------
  // The node that alone consumes v, if its op is `op` (and v is no graph output).
  int single_consumer(int v, const std::string& op) const {
    if (v < 0 || outputs.count(v) || consumers[v].size() != 1) return -1;
    const int n = consumers[v][0];
    if (done[n] || g.nodes[n].op != op) return -1;
    return n;
  }
  const Value& val(int v) const { return g.value(v); }
  const std::vector<int64_t>& shape(int v) const { return g.value(v).shape; }

  ConvInfo conv_info(const Node& n) const {
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

  // A depthwise conv the C API's operators can take: besides the shape, C, H and W
  // within its side limit (above XSEP_MAX_SIDE is UNSUPPORTED). Larger ones go to
  // the general conv kernel, decided here at load rather than failing at the
  // first run.
  static bool is_depthwise(const ConvInfo& c) {
    return c.group == c.ci && c.co == c.ci && c.weight->shape[1] == 1 && c.dh == 1 && c.dw == 1 &&
           c.ci <= XSEP_MAX_SIDE && c.h <= XSEP_MAX_SIDE && c.w <= XSEP_MAX_SIDE;
  }
  bool is_conv(int node) const { return node >= 0 && g.nodes[node].op == "Conv"; }

  // A 2x2 depthwise conv with one zero row and column on two adjacent sides.
  std::optional<xsep_pad> as_2x2(int node) const {
    if (!is_conv(node)) return std::nullopt;
    const ConvInfo c = conv_info(g.nodes[node]);
    if (!is_depthwise(c) || c.kh != 2 || c.kw != 2 || c.sh != 1 || c.sw != 1) return std::nullopt;
    if (c.pt + c.pb != 1 || c.pl + c.pr != 1) return std::nullopt;
    if (c.pt && c.pl) return XSEP_PAD_TOP_LEFT;
    if (c.pt && c.pr) return XSEP_PAD_TOP_RIGHT;
    if (c.pb && c.pl) return XSEP_PAD_BOTTOM_LEFT;
    return XSEP_PAD_BOTTOM_RIGHT;
  }

  // 1xK (axis 1) or Kx1 (axis 0) depthwise with "same" padding; returns K and stride.
  bool as_line(int node, int axis, int* k, int* s) const {
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

  // ---- Epilogues ---------------------------------------------------------------
  struct Absorbed {
    int out;
    std::vector<float> scale, bias;  // scale empty: 1
    Act act;
    xsep_activation api_act = XSEP_ACT_NONE;
    std::string text;  // "+BN+HS" for labels
  };

  // Activation node -> kernel activation (nullopt: not fusable).
  std::optional<Act> activation_of(const Node& n) const {
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
  static std::optional<xsep_activation> api_activation(const Act& a) {
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

  // From a conv output v with C channels (and optional conv bias): absorbs a
  // following BatchNormalization and activation. api_only: only activations the
  // C API epilogue has (NONE, RELU, RELU6, HARDSWISH).
  Absorbed absorb(int v, int64_t channels, const Value* conv_bias, bool api_only) {
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

  static HostEpilogue host_epilogue(const Absorbed& a) {
    HostEpilogue e;
    e.scale = a.scale;
    e.bias = a.bias;
    e.act = a.api_act;
    if (std::all_of(e.bias.begin(), e.bias.end(), [](float b) { return b == 0.f; })) e.bias.clear();
    return e;
  }

  // ---- Storage ----------------------------------------------------------------
  bool nhwc(int v) const { return prog.storage[v].nhwc; }
  // Element strides of value v per logical dim (NCHW order for rank 4).
  std::vector<int64_t> strides(int v) const {
    const auto& s = shape(v);
    std::vector<int64_t> st(s.size(), 1);
    if (s.size() == 4 && nhwc(v)) {
      st = {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]};
      return st;
    }
    for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
    return st;
  }
  // Spatial outputs keep their input's layout when they have more than one pixel.
  void set_layout_like(int out, int in) {
    const auto& s = shape(out);
    prog.storage[out].nhwc = s.size() == 4 && s[2] * s[3] > 1 && nhwc(in);
  }

  Step& add(StepKind kind, const std::string& label, std::vector<int> inputs, int output) {
    Step s;
    s.kind = kind;
    s.label = label;
    s.inputs = std::move(inputs);
    s.output = output;
    prog.steps.push_back(std::move(s));
    return prog.steps.back();
  }

  // ---- Patterns ---------------------------------------------------------------
  // SYMMETRIC 2x2 written as Split(axis 1) -> one 2x2 conv per group -> Concat(axis 1).
  // Returns the Concat node, filling the direction-ordered weights and bias.
  int match_symmetric(int split, std::vector<float>* w, std::vector<float>* bias) {
    const Node& sp = g.nodes[split];
    if (sp.op != "Split" || shape(sp.in[0]).size() != 4) return -1;
    int64_t axis = sp.attr_i("axis", 0);
    if (axis < 0) axis += 4;
    if (axis != 1) return -1;
    const int64_t channels = shape(sp.in[0])[1];
    const int64_t q = channels / 4, m = channels % 4;
    static const xsep_pad kOrder[4] = {XSEP_PAD_BOTTOM_RIGHT, XSEP_PAD_TOP_LEFT,
                                       XSEP_PAD_BOTTOM_LEFT, XSEP_PAD_TOP_RIGHT};
    int concat = -1;
    w->clear(), bias->clear();
    size_t groups = 0;
    for (size_t i = 0; i < 4; ++i) {
      const int64_t size = q + (static_cast<int64_t>(i) < m ? 1 : 0);
      if (size == 0) break;
      if (i >= sp.out.size()) return -1;
      const int o = sp.out[i];
      if (o < 0 || shape(o)[1] != size) return -1;
      const int conv = single_consumer(o, "Conv");
      if (conv < 0 || as_2x2(conv) != kOrder[i]) return -1;
      const ConvInfo c = conv_info(g.nodes[conv]);
      w->insert(w->end(), c.weight->f.begin(), c.weight->f.end());
      if (c.bias) bias->insert(bias->end(), c.bias->f.begin(), c.bias->f.end());
      else bias->insert(bias->end(), static_cast<size_t>(size), 0.f);
      const int cat = single_consumer(g.nodes[conv].out[0], "Concat");
      if (cat < 0 || (concat >= 0 && cat != concat)) return -1;
      concat = cat;
      if (g.nodes[cat].in.size() <= i || g.nodes[cat].in[i] != g.nodes[conv].out[0]) return -1;
      ++groups;
    }
    if (concat < 0 || sp.out.size() != groups || g.nodes[concat].in.size() != groups) return -1;
    int64_t cat_axis = g.nodes[concat].attr_i("axis", 0);
    if (cat_axis < 0) cat_axis += 4;
    return cat_axis == 1 ? concat : -1;
  }

  // The XSepConv chain from a 2x2 conv or a SYMMETRIC Split at node `start`.
  bool try_xsepconv(int start) {
    const Node& first = g.nodes[start];
    if (pending_kscale[first.in[0]] >= 0) return false;  // an SE scale waits for a pointwise conv
    std::vector<float> w2x2, b2x2;
    xsep_pad pad;
    int t1_pre;  // the 2x2 result before its epilogue
    std::vector<int> absorbed;
    if (auto dir = as_2x2(start)) {
      pad = *dir;
      const ConvInfo c = conv_info(first);
      w2x2 = c.weight->f;
      b2x2 = c.bias ? c.bias->f : std::vector<float>(static_cast<size_t>(c.co), 0.f);
      t1_pre = first.out[0];
    } else if (first.op == "Split") {
      const int cat = match_symmetric(start, &w2x2, &b2x2);
      if (cat < 0) return false;
      pad = XSEP_PAD_SYMMETRIC;
      t1_pre = g.nodes[cat].out[0];
    } else {
      return false;
    }
    // Look ahead without absorbing: the 1xK and Kx1 must follow.
    const int64_t channels = shape(first.in[0])[1];
    const std::vector<bool> saved = done;
    Value bias_holder;
    bias_holder.f = b2x2;
    Absorbed e1 = absorb(t1_pre, channels, &bias_holder, true);
    int k1, s1, k2, s2;
    const int c1 = single_consumer(e1.out, "Conv");
    if (c1 < 0 || !as_line(c1, 1, &k1, &s1)) return done = saved, false;
    const ConvInfo ci1 = conv_info(g.nodes[c1]);
    done[c1] = true;
    Absorbed e2 = absorb(g.nodes[c1].out[0], channels, ci1.bias, true);
    const int c2 = single_consumer(e2.out, "Conv");
    if (c2 < 0 || !as_line(c2, 0, &k2, &s2) || k2 != k1 || s2 != s1) return done = saved, false;
    const ConvInfo ci2 = conv_info(g.nodes[c2]);
    done[c2] = true;
    Absorbed e3 = absorb(g.nodes[c2].out[0], channels, ci2.bias, true);

    // Commit: mark the 2x2 part absorbed too.
    done[start] = true;
    if (pad == XSEP_PAD_SYMMETRIC) {
      for (int o : first.out) {
        const int conv = consumers[o][0];
        done[conv] = true;
        done[consumers[g.nodes[conv].out[0]][0]] = true;  // the Concat
      }
    }
    const int x = first.in[0];
    set_layout_like(e3.out, x);
    static const char* kPad[] = {"TL", "TR", "BL", "BR", "SYM"};
    Step& s = add(StepKind::kXSepConv,
                  first.name + ": XSepConv K=" + std::to_string(k1) + " s" + std::to_string(s1) + " " +
                      kPad[pad] + " [2x2" + e1.text + " 1x" + std::to_string(k1) + e2.text + " " +
                      std::to_string(k1) + "x1" + e3.text + "]",
                  {x}, e3.out);
    s.k = k1, s.stride = s1, s.pad = pad;
    s.w = w2x2, s.w1xk = ci1.weight->f, s.wkx1 = ci2.weight->f;
    s.ep = host_epilogue(e1), s.ep1xk = host_epilogue(e2), s.epkx1 = host_epilogue(e3);
    const auto& xs = shape(x);
    const auto& ys = shape(e3.out);
    s.macs = double(xs[0]) * xs[1] * (xs[2] * xs[3] * 4.0 + xs[2] * ys[3] * k1 + ys[2] * ys[3] * k1);
    return true;
  }

  // A depthwise conv our C API runs as one operator.
  bool try_dwconv(int node) {
    const Node& n = g.nodes[node];
    if (pending_kscale[n.in[0]] >= 0) return false;  // an SE scale waits for a pointwise conv
    const ConvInfo c = conv_info(n);
    if (!is_depthwise(c)) return false;
    DwOp op;
    xsep_pad pad = XSEP_PAD_TOP_LEFT;
    int k = 0, st = 1;
    std::string what;
    if (auto dir = as_2x2(node)) {
      op = DwOp::k2x2, pad = *dir, k = 2, what = "2x2";
    } else if (as_line(node, 1, &k, &st)) {
      op = DwOp::k1xK, what = "1x" + std::to_string(k);
    } else if (as_line(node, 0, &k, &st)) {
      op = DwOp::kKx1, what = std::to_string(k) + "x1";
    } else if (c.kh == c.kw && c.kh % 2 == 1 && c.kh <= 31 && c.sh == c.sw && (c.sh == 1 || c.sh == 2) &&
               c.pt == c.kh / 2 && c.pl == c.kh / 2 && c.pb == c.kh / 2 && c.pr == c.kh / 2) {
      op = DwOp::kKxK, k = static_cast<int>(c.kh), st = static_cast<int>(c.sh);
      what = std::to_string(k) + "x" + std::to_string(k);
    } else {
      return false;
    }
    done[node] = true;
    Absorbed e = absorb(n.out[0], c.co, c.bias, true);
    set_layout_like(e.out, n.in[0]);
    Step& step = add(StepKind::kDwConv, n.name + ": depthwise " + what + " s" + std::to_string(st) + e.text,
                     {n.in[0]}, e.out);
    step.dw_op = op, step.pad = pad, step.k = k, step.stride = st;
    step.w = c.weight->f;
    step.ep = host_epilogue(e);
    step.macs = double(c.n) * c.co * c.ho * c.wo * c.kh * c.kw;
    return true;
  }

  // Pointwise conv as a GEMM per image, with BN folded into the weights, the
  // activation or a residual Add (the Add only after no activation) and an SE
  // channel scale fused.
  bool try_pointwise(int node) {
    const Node& n = g.nodes[node];
    const ConvInfo c = conv_info(n);
    if (c.kh != 1 || c.kw != 1 || c.group != 1 || c.sh != 1 || c.sw != 1 || c.pt || c.pl || c.pb ||
        c.pr)
      return false;
    done[node] = true;
    Absorbed e = absorb(n.out[0], c.co, c.bias, false);
    int x = n.in[0];
    int kscale = -1;
    if (pending_kscale[x] >= 0) kscale = pending_kscale[x], x = pending_kscale_src[x];
    // Residual: out + other, other computed before this conv.
    int residual = -1;
    if (consumers[e.out].size() == 1 && !outputs.count(e.out) && e.act.kind == ActKind::kNone) {
      const int add_node = consumers[e.out][0];
      const Node& an = g.nodes[add_node];
      if (!done[add_node] && an.op == "Add") {
        const int other = an.in[0] == e.out ? an.in[1] : an.in[0];
        // The residual is read with the output's strides: same shape and layout.
        const auto& os = shape(other);
        const bool other_nhwc = nhwc(other) && os.size() == 4 && os[2] * os[3] > 1;
        const bool out_nhwc = nhwc(x) && os.size() == 4 && os[2] * os[3] > 1;
        if (os == shape(e.out) && other_nhwc == out_nhwc && !val(other).constant && producer[other] < node &&
            an.in[0] != an.in[1]) {
          residual = other;
          done[add_node] = true;
          e.out = an.out[0];
          e.text += "+Add";
        }
      }
    }
    set_layout_like(e.out, x);
    std::vector<int> ins = {x};
    if (kscale >= 0) ins.push_back(kscale);
    if (residual >= 0) ins.push_back(residual);
    Step& s = add(StepKind::kGemm,
                  n.name + ": pointwise " + std::to_string(c.ci) + "->" + std::to_string(c.co) +
                      (kscale >= 0 ? " (SE scale in)" : "") + e.text,
                  ins, e.out);
    // Weights [co][ci], scaled by the folded BN.
    std::vector<float> w = c.weight->f;
    if (!e.scale.empty())
      for (int64_t o = 0; o < c.co; ++o)
        for (int64_t i = 0; i < c.ci; ++i) w[o * c.ci + i] *= e.scale[o];
    auto& a = s.gemm;
    const int64_t hw = c.h * c.w;
    a.batch = static_cast<int>(c.n);
    a.k = static_cast<int>(c.ci);
    a.bias = nullptr;
    s.bias = e.bias;
    a.act = e.act;
    a.alpha = 1.f;
    a.beta = 1.f;
    if (!nhwc(x)) {  // Y[b] (Co x HW) = W (Co x Ci) . X[b] (Ci x HW)
      a.m = static_cast<int>(c.co), a.n = static_cast<int>(hw);
      s.gemm_a_const = w, a.a_b = 0, a.a_m = c.ci, a.a_k = 1;
      s.gemm_b = x, a.b_b = c.ci * hw, a.b_k = hw, a.b_n = 1;
      a.y_b = c.co * hw, a.y_m = hw, a.y_n = 1;
      a.bias_axis = 1;
    } else {  // Y[b] (HW x Co) = X[b] (HW x Ci) . W^T (Ci x Co)
      a.m = static_cast<int>(hw), a.n = static_cast<int>(c.co);
      s.gemm_a = x, a.a_b = hw * c.ci, a.a_m = c.ci, a.a_k = 1;
      s.gemm_b_const = w, a.b_b = 0, a.b_k = 1, a.b_n = c.ci;
      a.y_b = hw * c.co, a.y_m = c.co, a.y_n = 1;
      a.bias_axis = 2;
    }
    if (kscale >= 0) s.gemm_kscale = kscale, a.ks_b = c.ci, a.ks_k = 1;
    if (residual >= 0) s.gemm_c = residual, a.c_b = a.y_b, a.c_m = a.y_m, a.c_n = a.y_n;
    s.macs = double(c.n) * c.co * c.ci * hw;
    return true;
  }

  void lower_conv(int node) {
    const Node& n = g.nodes[node];
    const ConvInfo c = conv_info(n);
    done[node] = true;
    Absorbed e = absorb(n.out[0], c.co, c.bias, false);
    set_layout_like(e.out, n.in[0]);
    Step& s = add(StepKind::kConv,
                  n.name + ": conv " + std::to_string(c.kh) + "x" + std::to_string(c.kw) + " " +
                      std::to_string(c.ci) + "->" + std::to_string(c.co) + " s" + std::to_string(c.sh) +
                      (c.group > 1 ? " g" + std::to_string(c.group) : "") + e.text,
                  {n.in[0]}, e.out);
    s.w = c.weight->f;
    const int64_t per_out = c.weight->numel() / c.co;
    if (!e.scale.empty())
      for (int64_t o = 0; o < c.co; ++o)
        for (int64_t i = 0; i < per_out; ++i) s.w[o * per_out + i] *= e.scale[o];
    s.bias = e.bias;
    auto& a = s.conv;
    a.n = int(c.n), a.ci = int(c.ci), a.h = int(c.h), a.w = int(c.w), a.co = int(c.co);
    a.ho = int(c.ho), a.wo = int(c.wo), a.kh = int(c.kh), a.kw = int(c.kw), a.sh = int(c.sh);
    a.sw = int(c.sw), a.pt = int(c.pt), a.pl = int(c.pl), a.dh = int(c.dh), a.dw = int(c.dw);
    a.group = int(c.group);
    a.act = e.act;
    a.nhwc = nhwc(n.in[0]);
    s.macs = double(c.n) * c.co * c.ho * c.wo * per_out;
  }

  // GlobalAveragePool, and when it starts an SE block (GAP -> 1x1 conv -> act ->
  // 1x1 conv -> act) the two FC layers as one more launch.
  void lower_gap(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int x = n.in[0];
    const auto& xs = shape(x);
    const auto st = strides(x);
    int64_t hw = 1;
    for (size_t i = 2; i < xs.size(); ++i) hw *= xs[i];
    // Pixels are contiguous in NCHW order for rank != 4 and for NCHW storage;
    // in NHWC they are C apart.
    const int64_t pixel_stride = (xs.size() == 4 && nhwc(x)) ? xs[1] : 1;
    Step& s = add(StepKind::kGap, n.name + ": global average pool", {x}, n.out[0]);
    s.gap.n = int(xs[0]), s.gap.c = int(xs[1]), s.gap.hw = int(hw);
    s.gap.x_n = st[0], s.gap.x_c = st[1], s.gap.x_p = pixel_stride;
    s.gap.y_n = xs[1], s.gap.y_c = 1;
    s.macs = double(xs[0]) * xs[1] * hw;
    const int pooled = n.out[0];
    try_se(pooled);
  }

  // A 1x1 conv on a 1x1 input without padding: a fully-connected layer with a
  // 1x1 output (a padded one is a valid ONNX conv whose other outputs are
  // bias only, which se_fc would not write).
  bool is_fc_conv(int node, int64_t in_c) const {
    if (!is_conv(node)) return false;
    const ConvInfo c = conv_info(g.nodes[node]);
    return c.kh == 1 && c.kw == 1 && c.group == 1 && c.h == 1 && c.w == 1 && c.ci == in_c && c.pt == 0 &&
           c.pl == 0 && c.pb == 0 && c.pr == 0;
  }

  void try_se(int pooled) {
    const int64_t channels = shape(pooled)[1];
    if (shape(pooled).size() != 4) return;
    const int fc1 = single_consumer(pooled, "Conv");
    if (fc1 < 0 || !is_fc_conv(fc1, channels)) return;
    const ConvInfo c1 = conv_info(g.nodes[fc1]);
    const std::vector<bool> saved = done;
    done[fc1] = true;
    Absorbed e1 = absorb(g.nodes[fc1].out[0], c1.co, c1.bias, false);
    const int fc2 = single_consumer(e1.out, "Conv");
    if (fc2 < 0 || !is_fc_conv(fc2, c1.co) || conv_info(g.nodes[fc2]).co != channels) {
      done = saved;
      return;
    }
    const ConvInfo c2 = conv_info(g.nodes[fc2]);
    done[fc2] = true;
    Absorbed e2 = absorb(g.nodes[fc2].out[0], c2.co, c2.bias, false);
    auto fold = [](const std::vector<float>& w, const Absorbed& e, int64_t rows, int64_t cols) {
      std::vector<float> out = w;
      if (!e.scale.empty())
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t k = 0; k < cols; ++k) out[r * cols + k] *= e.scale[r];
      return out;
    };
    Step& s = add(StepKind::kSeFc, g.nodes[fc1].name + ": SE fc " + std::to_string(channels) + "->" +
                                       std::to_string(c1.co) + e1.text + "->" + std::to_string(channels) + e2.text,
                  {pooled}, e2.out);
    s.se.n = int(shape(pooled)[0]), s.se.c = int(channels), s.se.mid = int(c1.co);
    s.se.act1 = e1.act, s.se.act2 = e2.act;
    s.se_w1 = fold(c1.weight->f, e1, c1.co, channels), s.se_b1 = e1.bias;
    s.se_w2 = fold(c2.weight->f, e2, channels, c1.co), s.se_b2 = e2.bias;
    s.macs = 2.0 * shape(pooled)[0] * channels * c1.co;
  }

  // Mul(x, s) with s [N,C,1,1] whose only consumer is a pointwise conv: the
  // conv multiplies its input channels by s while loading (no launch here).
  bool try_fold_channel_scale(int node) {
    const Node& n = g.nodes[node];
    if (n.op != "Mul" || outputs.count(n.out[0]) || consumers[n.out[0]].size() != 1) return false;
    const int conv = consumers[n.out[0]][0];
    if (!is_conv(conv)) return false;
    const ConvInfo c = conv_info(g.nodes[conv]);
    if (c.kh != 1 || c.kw != 1 || c.group != 1 || c.sh != 1 || c.sw != 1 || c.pt || c.pl || c.pb || c.pr)
      return false;
    for (int i = 0; i < 2; ++i) {
      const int x = n.in[i], s = n.in[1 - i];
      const auto& xs = shape(x);
      const auto& ss = shape(s);
      if (xs.size() == 4 && ss == std::vector<int64_t>{xs[0], xs[1], 1, 1} && !val(s).constant &&
          !val(x).constant) {
        pending_kscale[n.out[0]] = s;
        pending_kscale_src[n.out[0]] = x;
        done[node] = true;
        return true;
      }
    }
    return false;
  }

  // ---- Elementwise and data movement ------------------------------------------
  // Strides of value v broadcast to an output of rank r (right-aligned, 0 on
  // broadcast dims).
  std::vector<int64_t> broadcast_strides(int v, const std::vector<int64_t>& out_shape) const {
    const auto& s = shape(v);
    const auto st = strides(v);
    std::vector<int64_t> r(out_shape.size(), 0);
    const size_t off = out_shape.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i) r[off + i] = s[i] == 1 ? 0 : st[i];
    return r;
  }

  // y (value out, or the slice of it at y_offset with strides y_st) = act(op(a, b)).
  Step& add_elt(const std::string& label, EltOp op, int a, const std::vector<float>* a_const, int b,
                const std::vector<float>* b_const, Act act, int out, const std::vector<int64_t>& dims,
                std::vector<int64_t> a_st, std::vector<int64_t> b_st, std::vector<int64_t> y_st,
                int64_t a_off = 0, int64_t y_off = 0) {
    if (dims.size() > 6) unsupported(label + ": elementwise on rank > 6 is not supported by the cuda backend");
    std::vector<int> ins;
    if (a >= 0) ins.push_back(a);
    if (b >= 0) ins.push_back(b);
    Step& s = add(StepKind::kElt, label, ins, out);
    s.elt.rank = int(dims.size());
    s.elt.op = op;
    s.elt.act = act;
    for (size_t i = 0; i < dims.size(); ++i) {
      s.elt.dims[i] = dims[i];
      s.elt.a_stride[i] = a_st[i];
      s.elt.b_stride[i] = b_st.empty() ? 0 : b_st[i];
      s.elt.y_stride[i] = y_st[i];
    }
    s.elt_a = a, s.elt_b = b;
    if (a_const) s.elt_a_const = *a_const;
    if (b_const) s.elt_b_const = *b_const;
    s.elt_a_offset = a_off, s.elt_y_offset = y_off;
    double count = 1;
    for (int64_t d : dims) count *= double(d);
    s.macs = op == EltOp::kCopy ? 0 : count;
    return s;
  }

  // Output layout of an elementwise op: like its first same-shaped input.
  void set_elt_layout(const Node& n) {
    for (int v : n.in)
      if (v >= 0 && !val(v).constant && shape(v) == shape(n.out[0])) return set_layout_like(n.out[0], v);
  }

  void lower_binary(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int out = n.out[0];
    set_elt_layout(n);
    Absorbed e = absorb_act_only(out);
    const auto& dims = shape(out);
    // Constants go to the device as dense row-major arrays.
    auto operand = [&](int v, int* id, const std::vector<float>** c, std::vector<int64_t>* st) {
      if (val(v).constant) {
        *id = -1, *c = &val(v).f;
        std::vector<int64_t> dense(shape(v).size(), 1);
        for (int i = int(dense.size()) - 2; i >= 0; --i) dense[i] = dense[i + 1] * shape(v)[i + 1];
        st->assign(dims.size(), 0);
        const size_t off = dims.size() - shape(v).size();
        for (size_t i = 0; i < shape(v).size(); ++i) (*st)[off + i] = shape(v)[i] == 1 ? 0 : dense[i];
      } else {
        *id = v, *c = nullptr, *st = broadcast_strides(v, dims);
      }
    };
    int a, b;
    const std::vector<float>*ac, *bc;
    std::vector<int64_t> ast, bst;
    operand(n.in[0], &a, &ac, &ast);
    operand(n.in[1], &b, &bc, &bst);
    add_elt(n.name + ": " + n.op + e.text, n.op == "Add" ? EltOp::kAdd : EltOp::kMul, a, ac, b, bc, e.act,
            e.out, dims, ast, bst, strides(e.out));
  }

  // Following activation only (for ops without a channel epilogue).
  Absorbed absorb_act_only(int v) {
    Absorbed a;
    a.out = v;
    if (consumers[v].size() == 1 && !outputs.count(v)) {
      const int an = consumers[v][0];
      const Node& n = g.nodes[an];
      if (!done[an] && n.in[0] == v)
        if (auto act = activation_of(n)) {
          a.act = *act;
          done[an] = true;
          a.out = n.out[0];
          a.text = "+" + n.op;
          prog.storage[a.out].nhwc = prog.storage[v].nhwc;
        }
    }
    return a;
  }

  void lower_activation(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    auto act = activation_of(n);
    if (!act) unsupported(n.label() + ": needs constant min / max on the cuda backend");
    set_layout_like(n.out[0], n.in[0]);
    if (shape(n.out[0]).size() != 4) prog.storage[n.out[0]].nhwc = false;
    const auto& dims = shape(n.out[0]);
    add_elt(n.name + ": " + n.op, EltOp::kCopy, n.in[0], nullptr, -1, nullptr, *act, n.out[0], dims,
            strides(n.in[0]), {}, strides(n.out[0]));
  }

  // Standalone BatchNormalization: y = x * scale[c] + bias[c] in one MulAdd
  // pass of [C] constants broadcast over the other dims (two passes would round
  // x * scale to the activation dtype first: in float16 that error is relative
  // to x * scale, which a cancelling bias can make far larger than y).
  void lower_batchnorm(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    for (int i = 1; i < 5; ++i)
      if (!val(n.in[i]).constant) unsupported(n.label() + ": BatchNormalization parameters must be constant");
    const auto& dims = shape(n.out[0]);
    const int64_t channels = dims[1];
    Absorbed e = absorb_act_only(n.out[0]);
    const auto &gamma = val(n.in[1]).f, &beta = val(n.in[2]).f, &mean = val(n.in[3]).f, &var = val(n.in[4]).f;
    const float eps = n.attr_f("epsilon", 1e-5f);
    std::vector<float> scale(static_cast<size_t>(channels)), bias(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
      const double s = gamma[c] / std::sqrt(double(var[c]) + eps);
      scale[c] = float(s), bias[c] = float(beta[c] - mean[c] * s);
    }
    set_layout_like(e.out, n.in[0]);
    if (dims.size() != 4) prog.storage[e.out].nhwc = false;
    std::vector<int64_t> per_c(dims.size(), 0);
    per_c[1] = 1;
    Step& s = add_elt(n.name + ": BatchNormalization" + e.text, EltOp::kMulAdd, n.in[0], nullptr, -1, &scale,
                      e.act, e.out, dims, strides(n.in[0]), per_c, strides(e.out));
    s.elt_c_const = std::move(bias);
  }

  // Identity, Dropout, Reshape, Flatten: a view of the input when it is stored
  // row-major, else a copy into row-major order.
  void lower_view(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int in = n.in[0], out = n.out[0];
    const bool same_shape = shape(in) == shape(out);
    if (!nhwc(in) || (same_shape && n.op != "Reshape" && n.op != "Flatten")) {
      int root = in;
      while (prog.storage[root].alias_of >= 0) root = prog.storage[root].alias_of;
      prog.storage[out].alias_of = root;
      prog.storage[out].nhwc = nhwc(in);
      return;
    }
    // NHWC input reshaped: copy out in logical (NCHW row-major) order.
    const auto& dims = shape(in);
    std::vector<int64_t> dense(dims.size(), 1);
    for (int i = int(dims.size()) - 2; i >= 0; --i) dense[i] = dense[i + 1] * dims[i + 1];
    add_elt(n.name + ": " + n.op + " (NHWC -> row-major copy)", EltOp::kCopy, in, nullptr, -1, nullptr, Act{}, out,
            dims, strides(in), {}, dense);
  }

  void lower_concat(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int out = n.out[0];
    const auto& dims = shape(out);
    int64_t axis = n.attr_i("axis", 0);
    if (axis < 0) axis += int64_t(dims.size());
    for (int v : n.in)
      if (!val(v).constant) set_layout_like(out, v);
    const auto yst = strides(out);
    int64_t offset = 0;
    for (int v : n.in) {
      const auto& s = shape(v);
      if (val(v).constant) {
        std::vector<int64_t> dense(s.size(), 1);
        for (int i = int(s.size()) - 2; i >= 0; --i) dense[i] = dense[i + 1] * s[i + 1];
        add_elt(n.name + ": Concat (constant part)", EltOp::kCopy, -1, &val(v).f, -1, nullptr, Act{}, out, s,
                dense, {}, yst, 0, offset * yst[axis]);
      } else {
        add_elt(n.name + ": Concat part", EltOp::kCopy, v, nullptr, -1, nullptr, Act{}, out, s, strides(v), {},
                yst, 0, offset * yst[axis]);
      }
      offset += s[axis];
    }
  }

  void lower_split(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int in = n.in[0];
    const auto& dims = shape(in);
    int64_t axis = n.attr_i("axis", 0);
    if (axis < 0) axis += int64_t(dims.size());
    const auto ist = strides(in);
    int64_t offset = 0;
    for (int o : n.out) {
      if (o < 0) continue;
      set_layout_like(o, in);
      if (shape(o).size() != 4) prog.storage[o].nhwc = false;
      add_elt(n.name + ": Split part", EltOp::kCopy, in, nullptr, -1, nullptr, Act{}, o, shape(o), ist, {},
              strides(o), offset * ist[axis], 0);
      offset += shape(o)[axis];
    }
  }

  // Gemm: Y = alpha * A' B' + beta * C, then a fused activation.
  void lower_gemm(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    const int ta = int(n.attr_i("transA", 0)), tb = int(n.attr_i("transB", 0));
    const auto& as = shape(n.in[0]);
    const auto& bs = shape(n.in[1]);
    const int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1], nn = tb ? bs[0] : bs[1];
    Absorbed e = absorb_act_only(n.out[0]);
    std::vector<int> ins;
    Step& s = add(StepKind::kGemm, n.name + ": Gemm " + std::to_string(m) + "x" + std::to_string(k) + "x" +
                                       std::to_string(nn) + e.text,
                  {}, e.out);
    auto& a = s.gemm;
    a.batch = 1, a.m = int(m), a.n = int(nn), a.k = int(k);
    a.alpha = n.attr_f("alpha", 1.f), a.beta = n.attr_f("beta", 1.f);
    a.act = e.act;
    // Element (m, k) of A' and (k, n) of B' in their row-major storage.
    a.a_m = ta ? 1 : as[1], a.a_k = ta ? as[1] : 1;
    a.b_k = tb ? 1 : bs[1], a.b_n = tb ? bs[1] : 1;
    if (val(n.in[0]).constant) s.gemm_a_const = val(n.in[0]).f;
    else s.gemm_a = n.in[0], ins.push_back(n.in[0]);
    if (val(n.in[1]).constant) s.gemm_b_const = val(n.in[1]).f;
    else s.gemm_b = n.in[1], ins.push_back(n.in[1]);
    // beta = 0 drops C, NaN and infinity included (ONNX's reference, BLAS).
    if (n.in.size() > 2 && n.in[2] >= 0 && a.beta != 0.f) {
      const int c = n.in[2];
      const auto& cs = shape(c);
      std::vector<int64_t> c2 = cs;
      while (c2.size() < 2) c2.insert(c2.begin(), 1);
      if (val(c).constant && c2[0] == 1) {  // a row vector: a bias along n (beta folded in)
        s.bias.resize(size_t(nn));
        for (int64_t j = 0; j < nn; ++j) s.bias[j] = a.beta * val(c).f[c2[1] == 1 ? 0 : j];
        a.bias_axis = 2;
      } else if (val(c).constant) {
        s.gemm_c_const = val(c).f;
        a.c_m = c2[0] == 1 ? 0 : c2[1], a.c_n = c2[1] == 1 ? 0 : 1;
      } else {
        s.gemm_c = c, ins.push_back(c);
        a.c_m = c2[0] == 1 ? 0 : c2[1], a.c_n = c2[1] == 1 ? 0 : 1;
      }
    }
    a.y_m = nn, a.y_n = 1;
    s.inputs = ins;
    s.macs = double(m) * nn * k;
  }

  // MatMul (numpy semantics) where the batch dims of one side are absent or
  // equal to the other's.
  void lower_matmul(int node) {
    const Node& n = g.nodes[node];
    done[node] = true;
    auto as = shape(n.in[0]), bs = shape(n.in[1]);
    const bool a1 = as.size() == 1, b1 = bs.size() == 1;
    if (a1) as.insert(as.begin(), 1);
    if (b1) bs.push_back(1);
    const int64_t m = as[as.size() - 2], k = as.back(), nn = bs.back();
    std::vector<int64_t> abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
    auto prod = [](const std::vector<int64_t>& v) {
      int64_t p = 1;
      for (int64_t d : v) p *= d;
      return p;
    };
    // The GEMM reads row-major operands; a rank-4 value stored NHWC is not.
    for (int v : {n.in[0], n.in[1]})
      if (!val(v).constant && nhwc(v))
        unsupported(n.label() + ": its input '" + val(v).name +
                    "' is stored NHWC, which MatMul does not read; run this model with layout NCHW");
    const int64_t pa = prod(abatch), pb = prod(bbatch);
    if (pa != 1 && pb != 1 && abatch != bbatch)
      unsupported(n.label() + ": MatMul with batch broadcasting on both sides is not supported by the cuda backend");
    Absorbed e = absorb_act_only(n.out[0]);
    Step& s = add(StepKind::kGemm, n.name + ": MatMul" + e.text, {}, e.out);
    auto& a = s.gemm;
    a.batch = int(std::max(pa, pb)), a.m = int(m), a.n = int(nn), a.k = int(k);
    a.a_b = pa == 1 ? 0 : m * k, a.a_m = k, a.a_k = 1;
    a.b_b = pb == 1 ? 0 : k * nn, a.b_k = nn, a.b_n = 1;
    a.y_b = m * nn, a.y_m = nn, a.y_n = 1;
    std::vector<int> ins;
    if (val(n.in[0]).constant) s.gemm_a_const = val(n.in[0]).f;
    else s.gemm_a = n.in[0], ins.push_back(n.in[0]);
    if (val(n.in[1]).constant) s.gemm_b_const = val(n.in[1]).f;
    else s.gemm_b = n.in[1], ins.push_back(n.in[1]);
    s.inputs = ins;
    s.macs = double(a.batch) * m * nn * k;
  }

  void lower_node(int node) {
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

  Program run(xsep_dtype dtype, xsep_layout layout) {
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
};

}  // namespace

Program lower(const Graph& g, xsep_dtype dtype, xsep_layout layout) {
  Lowerer l(g);
  return l.run(dtype, layout);
}

}  // namespace xsep::graph
