// The lowering of nodes no pattern absorbed, one step each (lowerer.h): general
// conv2d, elementwise ops and activations with broadcasting, standalone
// BatchNorm, views (Identity, Dropout, Reshape, Flatten), Concat, Split, Gemm
// and MatMul.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "conv_geometry.h"
#include "lowerer.h"

namespace xsep::graph::detail {

void Lowerer::lower_conv(int node) {
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

std::vector<int64_t> Lowerer::broadcast_strides(int v, const std::vector<int64_t>& out_shape) const {
  const auto& s = shape(v);
  const auto st = strides(v);
  std::vector<int64_t> r(out_shape.size(), 0);
  const size_t off = out_shape.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) r[off + i] = s[i] == 1 ? 0 : st[i];
  return r;
}

Step& Lowerer::add_elt(const std::string& label, EltOp op, int a, const std::vector<float>* a_const, int b,
                const std::vector<float>* b_const, Act act, int out, const std::vector<int64_t>& dims,
                std::vector<int64_t> a_st, std::vector<int64_t> b_st, std::vector<int64_t> y_st,
                int64_t a_off, int64_t y_off) {
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

void Lowerer::set_elt_layout(const Node& n) {
  for (int v : n.in)
    if (v >= 0 && !val(v).constant && shape(v) == shape(n.out[0])) return set_layout_like(n.out[0], v);
}

void Lowerer::lower_binary(int node) {
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

Lowerer::Absorbed Lowerer::absorb_act_only(int v) {
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

void Lowerer::lower_activation(int node) {
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

void Lowerer::lower_batchnorm(int node) {
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

void Lowerer::lower_view(int node) {
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

void Lowerer::lower_concat(int node) {
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

void Lowerer::lower_split(int node) {
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

void Lowerer::lower_gemm(int node) {
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

void Lowerer::lower_matmul(int node) {
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

}  // namespace xsep::graph::detail
