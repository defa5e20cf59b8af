// The lowering's fused patterns (lowerer.h): the XSepConv chain (2x2 with a
// directional pad, or SYMMETRIC as Split -> four 2x2 -> Concat, then 1xK, Kx1,
// each with BN and activation) as one xsep_xsepconv; other depthwise convs as
// one xsep_dwconv*; pointwise conv as a GEMM with BN, activation or residual Add
// and an SE channel scale fused; GlobalAveragePool and the SE block's two FC
// layers. Each try_* returns false, marking nothing done, when the pattern does
// not match.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "conv_geometry.h"
#include "lowerer.h"

namespace xsep::graph::detail {

int Lowerer::match_symmetric(int split, std::vector<float>* w, std::vector<float>* bias) {
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

bool Lowerer::try_xsepconv(int start) {
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

bool Lowerer::try_dwconv(int node) {
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

bool Lowerer::try_pointwise(int node) {
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

void Lowerer::lower_gap(int node) {
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

bool Lowerer::is_fc_conv(int node, int64_t in_c) const {
  if (!is_conv(node)) return false;
  const ConvInfo c = conv_info(g.nodes[node]);
  return c.kh == 1 && c.kw == 1 && c.group == 1 && c.h == 1 && c.w == 1 && c.ci == in_c && c.pt == 0 &&
         c.pl == 0 && c.pb == 0 && c.pr == 0;
}

void Lowerer::try_se(int pooled) {
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

bool Lowerer::try_fold_channel_scale(int node) {
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

}  // namespace xsep::graph::detail
