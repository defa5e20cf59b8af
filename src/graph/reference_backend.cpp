// The REFERENCE backend (see reference_backend.h): one plain loop nest per
// operator, written from the operator's definition in ONNX's docs for the
// model's opset; sums in double, values stored as float. Each node recomputes
// its output shapes from that definition and checks them against the shapes
// shape inference put in the Graph, so the two can never silently disagree.
#include "reference_backend.h"
#include "shape_rules.h"

#include <cmath>
#include <functional>
#include <map>

namespace xsep::graph {
namespace {

using Shape = std::vector<int64_t>;
using Floats = std::vector<float>;

// Product of s[begin, end): the element count of those dimensions.
int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}
int64_t numel(const Shape& s) { return prod(s, 0, s.size()); }

// One node being executed: its inputs (data and shapes) and where its outputs go.
struct Run {
  const Graph& g;
  std::vector<Floats>& vals;  // by value id; constants are read from Value::f instead
  const Node& n;

  [[noreturn]] void bad(const std::string& why) const { invalid(n.label() + ": " + why); }
  bool has(size_t i) const { return i < n.in.size() && n.in[i] >= 0; }
  const Value& v(size_t i) const {
    if (!has(i)) bad("input " + std::to_string(i) + " is required");
    return g.value(n.in[i]);
  }
  const Shape& shape(size_t i) const { return v(i).shape; }
  const Floats& x(size_t i) const {
    const Value& val = v(i);
    if (val.dtype != DType::kFloat) bad("input '" + val.name + "' must be float32");
    const Floats& data = val.constant ? val.f : vals[static_cast<size_t>(n.in[i])];
    if (static_cast<int64_t>(data.size()) != val.numel())
      bad("input '" + val.name + "' holds " + std::to_string(data.size()) + " values, its shape " +
          shape_text(val.shape) + " needs " + std::to_string(val.numel()));
    return data;
  }
  // A scalar operand (Clip's min and max): any shape with one element.
  double scalar(size_t i) const {
    if (x(i).size() != 1) bad("input '" + v(i).name + "' must be a scalar, not " + shape_text(shape(i)));
    return x(i)[0];
  }
  // An int64 operand giving sizes (Reshape's shape, Split's split): static, so a constant.
  const std::vector<int64_t>& ints(size_t i) const {
    const Value& val = v(i);
    if (val.dtype != DType::kInt64 || !val.constant)
      unsupported(n.label() + ": input '" + val.name + "' must be an int64 constant");
    return val.i;
  }
  // Maps an axis attribute to [0, rank + extra): negative axes count from the
  // end and are ONNX from opset 11 on; extra = 1 for Flatten (axis may be rank).
  int64_t axis(int64_t a, int64_t rank, int64_t extra = 0) const {
    const int64_t lo = g.opset >= 11 ? -rank : 0;
    if (a < lo || a >= rank + extra)
      bad("axis " + std::to_string(a) + " is outside [" + std::to_string(lo) + ", " +
          std::to_string(rank + extra - 1) + "] for a rank-" + std::to_string(rank) + " input");
    return a < 0 ? a + rank : a;
  }
  // Stores output i, after checking the shape derived here against shape inference's.
  void set(size_t i, const Shape& s, Floats data) {
    if (i >= n.out.size()) bad("has no output " + std::to_string(i));
    if (n.out[i] < 0) return;  // an omitted optional output
    const Value& o = g.value(n.out[i]);
    if (o.shape != s)
      bad("output '" + o.name + "' computes to shape " + shape_text(s) + " but shape inference gave " +
          shape_text(o.shape) + " (a bug in the reference backend or the loader)");
    vals[static_cast<size_t>(n.out[i])] = std::move(data);
  }
};

// ---- Broadcasting --------------------------------------------------------------
// Multidirectional (numpy) broadcasting: shapes aligned at the right; in each
// dimension the sizes must be equal or one of them 1; the result takes the other.
Shape broadcast(const Run& r, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {  // k counts dimensions from the right
    const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    const int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1) r.bad("shapes " + shape_text(a) + " and " + shape_text(b) + " do not broadcast");
    out[rank - 1 - k] = da == 1 ? db : da;
  }
  return out;
}

// Strides for reading an operand of shape `in` broadcast to `out` (aligned at
// the right): in's row-major stride (in units of `unit` elements) for each of
// its dimensions, 0 where in has size 1 or lacks the dimension, so that the
// same element repeats along it.
Shape bstrides(const Shape& in, const Shape& out, int64_t unit = 1) {
  Shape st(out.size(), 0);
  int64_t s = unit;
  for (size_t k = 0; k < in.size(); ++k) {
    const int64_t d = in[in.size() - 1 - k];
    st[out.size() - 1 - k] = d == 1 ? 0 : s;
    s *= d;
  }
  return st;
}

// Offset, in a broadcast operand with strides st, of the element of `out` at
// row-major index o: o's multi-index is peeled from the last dimension,
// idx[d] = o % out[d], o /= out[d]; the offset is sum_d idx[d] * st[d].
int64_t offset(int64_t o, const Shape& out, const Shape& st) {
  int64_t off = 0;
  for (size_t d = out.size(); d-- > 0;) {
    off += (o % out[d]) * st[d];
    o /= out[d];
  }
  return off;
}

// ---- Elementwise -------------------------------------------------------------
// y = f(x), element by element, same shape.
void unary(Run& r, const std::function<double(double)>& f) {
  const Floats& x = r.x(0);
  Floats y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(f(x[i]));
  r.set(0, r.shape(0), std::move(y));
}

// y = f(a, b) with multidirectional broadcasting (Add, Mul from opset 7).
void binary(Run& r, double (*f)(double, double)) {
  const Shape out = broadcast(r, r.shape(0), r.shape(1));
  const Shape sa = bstrides(r.shape(0), out), sb = bstrides(r.shape(1), out);
  const Floats &a = r.x(0), &b = r.x(1);
  Floats y(static_cast<size_t>(numel(out)));
  for (int64_t o = 0; o < numel(out); ++o)
    y[o] = static_cast<float>(f(a[offset(o, out, sa)], b[offset(o, out, sb)]));
  r.set(0, out, std::move(y));
}

// Clamps to [lo, hi] as Min(hi, Max(x, lo)) (so lo > hi gives hi); NaN passes
// through, and a bound equal to x wins (so -0.0 clamped at +0.0 gives +0.0, as
// IEEE maximum and the kernels' clamp_keep_nan do).
double clamp(double x, double lo, double hi) {
  const double v = x <= lo ? lo : x;
  return v >= hi ? hi : v;
}

void clip(Run& r) {
  double lo = kClipDefaultMin, hi = kClipDefaultMax;  // ONNX's defaults (ir.h)
  if (r.g.opset < 11) {  // Clip-1/6: attributes
    lo = r.n.attr_f("min", static_cast<float>(lo));
    hi = r.n.attr_f("max", static_cast<float>(hi));
  } else {  // Clip-11+: optional scalar inputs
    if (r.has(1)) lo = r.scalar(1);
    if (r.has(2)) hi = r.scalar(2);
  }
  unary(r, [&](double x) { return clamp(x, lo, hi); });
}

// BatchNormalization, inference: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c],
// c = the index along dimension 1.
void batchnorm(Run& r) {
  const Shape& xs = r.shape(0);
  if (xs.size() < 2) r.bad("X must have rank >= 2 (N, C, ...), not " + shape_text(xs));
  const int64_t C = xs[1], inner = prod(xs, 2, xs.size());
  for (size_t i = 1; i <= 4; ++i)
    if (numel(r.shape(i)) != C || r.shape(i).size() != 1)
      r.bad("input '" + r.v(i).name + "' must have shape [" + std::to_string(C) + "], not " + shape_text(r.shape(i)));
  const Floats &x = r.x(0), &scale = r.x(1), &bias = r.x(2), &mean = r.x(3), &var = r.x(4);
  const double eps = r.n.attr_f("epsilon", 1e-5f);
  Floats y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / inner) % C;
    y[i] = static_cast<float>((x[i] - double{mean[c]}) / std::sqrt(double{var[c]} + eps) * scale[c] + bias[c]);
  }
  r.set(0, xs, std::move(y));
}

// ---- Convolution ---------------------------------------------------------------
// 2-D Conv: X [N, C, H, W], W [M, C/group, KH, KW], optional B [M]:
//   Y[n, m, oh, ow] = B[m] + sum_{c < C/group, kh, kw}
//       X[n, g*C/group + c, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw] * W[m, c, kh, kw]
// with g = m / (M/group) and X read as 0 outside the image (padding).
void conv(Run& r) {
  const Shape &xs = r.shape(0), &ws = r.shape(1);
  if (xs.size() != 4 || ws.size() != 4) unsupported(r.n.label() + ": only 2-D convolutions (4-D X and W) are supported");
  const int64_t N = xs[0], C = xs[1], M = ws[0], Cg = ws[1];
  const int64_t group = r.n.attr_i("group", 1);
  if (group < 1 || C % group != 0 || M % group != 0 || Cg != C / group)
    r.bad("group " + std::to_string(group) + " does not fit X " + shape_text(xs) + " and W " + shape_text(ws));
  const Shape k = {ws[2], ws[3]};
  if (r.n.attr_ints("kernel_shape", k) != k) r.bad("kernel_shape does not match W " + shape_text(ws));
  const Shape strides = r.n.attr_ints("strides", {1, 1}), dil = r.n.attr_ints("dilations", {1, 1});
  const Shape pads = r.n.attr_ints("pads", {0, 0, 0, 0});  // [top, left, bottom, right]
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
    r.bad("strides and dilations need 2 values, pads 4");
  const std::string auto_pad = r.n.attr_s("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && r.n.has("pads")) r.bad("pads cannot be used together with auto_pad");

  // Per spatial axis d (0: H, 1: W), with the dilated kernel extent ek = (k-1)*dil + 1:
  //   NOTSET: out = floor((in + pad_begin + pad_end - ek) / s) + 1
  //   VALID:  no padding, out = floor((in - ek) / s) + 1  (= ceil((in - ek + 1) / s))
  //   SAME_*: out = ceil(in / s), total padding max(0, (out-1)*s + ek - in) split in
  //           halves, the odd one at the end (UPPER) or at the beginning (LOWER).
  int64_t out[2], pb[2];
  for (int d = 0; d < 2; ++d) {
    const int64_t in = xs[2 + d], s = strides[d], ek = (k[d] - 1) * dil[d] + 1;
    if (s < 1 || dil[d] < 1) r.bad("strides and dilations must be >= 1");
    int64_t begin = 0, end = 0;
    if (auto_pad == "NOTSET") {
      begin = pads[d], end = pads[d + 2];
      if (begin < 0 || end < 0) r.bad("pads must be >= 0");
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t total = std::max<int64_t>(0, ((in + s - 1) / s - 1) * s + ek - in);
      begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end = total - begin;
    } else if (auto_pad != "VALID") {
      r.bad("auto_pad '" + auto_pad + "' is not an ONNX value");
    }
    if (in + begin + end < ek) r.bad("the kernel is larger than the padded input");
    out[d] = (in + begin + end - ek) / s + 1;
    pb[d] = begin;
  }
  const int64_t H = xs[2], W = xs[3], KH = k[0], KW = k[1], OH = out[0], OW = out[1];
  const Floats &x = r.x(0), &w = r.x(1);
  const Floats* b = nullptr;
  if (r.has(2)) {
    if (r.shape(2) != Shape{M}) r.bad("B must have shape [" + std::to_string(M) + "], not " + shape_text(r.shape(2)));
    b = &r.x(2);
  }
  Floats y(static_cast<size_t>(N * M * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      const int64_t g = m / (M / group);
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? (*b)[m] : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * strides[0] - pb[0] + kh * dil[0];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * strides[1] - pb[1] + kw * dil[1];
                if (iw < 0 || iw >= W) continue;
                acc += double{x[((n * C + g * Cg + c) * H + ih) * W + iw]} * w[((m * Cg + c) * KH + kh) * KW + kw];
              }
            }
          y[((n * M + m) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
    }
  r.set(0, {N, M, OH, OW}, std::move(y));
}

// GlobalAveragePool: [N, C, D1, ...] -> [N, C, 1, ...], the mean over D1, ...
void global_average_pool(Run& r) {
  const Shape& xs = r.shape(0);
  if (xs.size() < 3) r.bad("X must have rank >= 3, not " + shape_text(xs));
  const int64_t nc = xs[0] * xs[1], inner = prod(xs, 2, xs.size());
  const Floats& x = r.x(0);
  Floats y(static_cast<size_t>(nc));
  for (int64_t i = 0; i < nc; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < inner; ++j) sum += x[i * inner + j];
    y[i] = static_cast<float>(sum / inner);
  }
  Shape ys(xs.size(), 1);
  ys[0] = xs[0], ys[1] = xs[1];
  r.set(0, ys, std::move(y));
}

// ---- Matrix products -----------------------------------------------------------
// Gemm: Y = alpha * A' B' + beta * C, A' = transA ? A^T : A  [M, K],
// B' = transB ? B^T : B  [K, N], C (optional) unidirectionally broadcast to [M, N].
void gemm(Run& r) {
  const Shape &as = r.shape(0), &bs = r.shape(1);
  if (as.size() != 2 || bs.size() != 2) r.bad("A and B must be matrices, not " + shape_text(as) + " and " + shape_text(bs));
  const bool ta = r.n.attr_i("transA", 0) != 0, tb = r.n.attr_i("transB", 0) != 0;
  const int64_t M = ta ? as[1] : as[0], K = ta ? as[0] : as[1];
  const int64_t Kb = tb ? bs[1] : bs[0], N = tb ? bs[0] : bs[1];
  if (K != Kb) r.bad("A " + shape_text(as) + " and B " + shape_text(bs) + " do not multiply");
  const double alpha = r.n.attr_f("alpha", 1.0f), beta = r.n.attr_f("beta", 1.0f);
  const Shape ys = {M, N};
  const Floats *c = nullptr;
  Shape cst;
  if (r.has(2)) {
    if (broadcast(r, r.shape(2), ys) != ys) r.bad("C " + shape_text(r.shape(2)) + " does not broadcast to " + shape_text(ys));
    // beta = 0 drops C, NaN and infinity included (ONNX's reference, BLAS).
    if (beta != 0) c = &r.x(2), cst = bstrides(r.shape(2), ys);
  }
  const Floats &a = r.x(0), &b = r.x(1);
  Floats y(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)  // A'(i,k) = A[k][i] or A[i][k]; B'(k,j) = B[j][k] or B[k][j]
        acc += double{ta ? a[k * M + i] : a[i * K + k]} * (tb ? b[j * K + k] : b[k * N + j]);
      y[i * N + j] = static_cast<float>(alpha * acc + (c ? beta * (*c)[i * cst[0] + j * cst[1]] : 0.0));
    }
  r.set(0, ys, std::move(y));
}

// MatMul with numpy.matmul semantics: a 1-D A is a row [1, K] and a 1-D B a
// column [K, 1], the added dimension dropped from the result; the dimensions
// before the last two are batch dimensions, broadcast multidirectionally:
//   Y[p, i, j] = sum_k A[p_A, i, k] * B[p_B, k, j]   (p_A, p_B: p broadcast back)
void matmul(Run& r) {
  Shape as = r.shape(0), bs = r.shape(1);
  if (as.empty() || bs.empty()) r.bad("operands must have rank >= 1");
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  if (bs[bs.size() - 2] != K) r.bad("shapes " + shape_text(r.shape(0)) + " and " + shape_text(r.shape(1)) + " do not multiply");
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const Shape batch = broadcast(r, a_batch, b_batch);
  const Shape sa = bstrides(a_batch, batch, M * K), sb = bstrides(b_batch, batch, K * N);
  const Floats &a = r.x(0), &b = r.x(1);
  Floats y(static_cast<size_t>(numel(batch) * M * N));
  for (int64_t p = 0; p < numel(batch); ++p) {
    const int64_t oa = offset(p, batch, sa), ob = offset(p, batch, sb);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += double{a[oa + i * K + k]} * b[ob + k * N + j];
        y[(p * M + i) * N + j] = static_cast<float>(acc);
      }
  }
  Shape ys = batch;
  if (!a_vec) ys.push_back(M);
  if (!b_vec) ys.push_back(N);
  r.set(0, ys, std::move(y));
}

// ---- Shape and data movement ---------------------------------------------------
// Flatten: [d0, ..., dr-1] -> [d0*...*d(axis-1), d(axis)*...*d(r-1)], axis in [-r, r].
void flatten(Run& r) {
  const Shape& xs = r.shape(0);
  const int64_t rank = static_cast<int64_t>(xs.size());
  const size_t axis = static_cast<size_t>(r.axis(r.n.attr_i("axis", 1), rank, 1));
  r.set(0, {prod(xs, 0, axis), prod(xs, axis, xs.size())}, r.x(0));
}

// Reshape: ONNX's rule for the shape input (shape_rules.h); the data are unchanged.
void reshape(Run& r) {
  Shape ys;
  const std::string why = reshape_shape(r.shape(0), r.ints(1), r.n.attr_i("allowzero", 0) != 0, &ys);
  if (!why.empty()) r.bad(why);
  r.set(0, ys, r.x(0));
}

// Concat along axis: with outer = the product of the dimensions before axis and
// inner = after it, output row p is the inputs' rows p (each axis_t * inner long) in order.
void concat(Run& r) {
  const Shape& first = r.shape(0);
  const int64_t rank = static_cast<int64_t>(first.size());
  if (!r.n.has("axis") && r.g.opset >= 4) r.bad("the axis attribute is required");
  const size_t axis = static_cast<size_t>(r.axis(r.n.attr_i("axis", 1), rank));  // Concat-1: default 1
  Shape ys = first;
  ys[axis] = 0;
  for (size_t t = 0; t < r.n.in.size(); ++t) {
    Shape s = r.shape(t);
    if (s.size() != first.size()) r.bad("inputs have different ranks");
    ys[axis] += s[axis];
    s[axis] = first[axis];
    if (s != first) r.bad("input shapes " + shape_text(first) + " and " + shape_text(r.shape(t)) + " differ outside the axis");
  }
  const int64_t outer = prod(first, 0, axis), inner = prod(first, axis + 1, first.size());
  Floats y;
  y.reserve(static_cast<size_t>(numel(ys)));
  for (int64_t p = 0; p < outer; ++p)
    for (size_t t = 0; t < r.n.in.size(); ++t) {
      const int64_t len = r.shape(t)[axis] * inner;
      const Floats& x = r.x(t);
      y.insert(y.end(), x.begin() + p * len, x.begin() + (p + 1) * len);
    }
  r.set(0, ys, std::move(y));
}

// Split along axis into n.out.size() parts whose sizes come from the split
// input (Split-1, 13+), else the split attribute (Split-1..11), else
// num_outputs (Split-18: ceil(d / num_outputs) each, the last one smaller),
// else equal parts. Output t, row p (outer/inner as for Concat) is the input's
// row p from offset begin_t * inner, size_t * inner long.
void split(Run& r) {
  const Shape& xs = r.shape(0);
  const size_t axis = static_cast<size_t>(r.axis(r.n.attr_i("axis", 0), static_cast<int64_t>(xs.size())));
  const int64_t D = xs[axis], parts = static_cast<int64_t>(r.n.out.size());
  std::vector<int64_t> sizes;
  if (r.g.opset >= 18 && r.has(1) == r.n.has("num_outputs"))
    r.bad("exactly one of the split input and the num_outputs attribute must be given");
  if (r.has(1)) {
    sizes = r.ints(1);
  } else if (r.n.has("split")) {
    sizes = r.n.attr_ints("split", {});
  } else if (r.n.has("num_outputs")) {
    if (r.n.attr_i("num_outputs", 0) != parts) r.bad("num_outputs differs from the number of outputs");
    const int64_t chunk = (D + parts - 1) / parts;
    sizes.assign(static_cast<size_t>(parts), chunk);
    sizes.back() = D - chunk * (parts - 1);
  } else {
    if (D % parts != 0) r.bad("dimension " + std::to_string(D) + " does not split into " + std::to_string(parts) + " equal parts");
    sizes.assign(static_cast<size_t>(parts), D / parts);
  }
  std::vector<Shape> shapes;
  const std::string why = split_shapes(xs, axis, sizes, static_cast<size_t>(parts), &shapes);
  if (!why.empty()) r.bad(why);
  const int64_t outer = prod(xs, 0, axis), inner = prod(xs, axis + 1, xs.size());
  const Floats& x = r.x(0);
  int64_t begin = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    const Shape& ys = shapes[t];
    Floats y;
    y.reserve(static_cast<size_t>(numel(ys)));
    for (int64_t p = 0; p < outer; ++p)
      y.insert(y.end(), x.begin() + (p * D + begin) * inner, x.begin() + (p * D + begin + sizes[t]) * inner);
    r.set(t, ys, std::move(y));
    begin += sizes[t];
  }
}

// Identity, and Dropout at inference (its mask output is refused at load time).
void copy(Run& r) { r.set(0, r.shape(0), r.x(0)); }

const std::map<std::string, std::function<void(Run&)>>& ops() {
  static const std::map<std::string, std::function<void(Run&)>> kOps = {
      {"Conv", conv},
      {"BatchNormalization", batchnorm},
      {"Relu", [](Run& r) { unary(r, [](double x) { return x <= 0 ? 0.0 : x; }); }},  // -0 -> +0
      {"Clip", clip},
      // HardSigmoid: max(0, min(1, alpha*x + beta)); HardSwish: x * HardSigmoid(x) with alpha 1/6, beta 0.5.
      {"HardSigmoid",
       [](Run& r) {
         const double alpha = r.n.attr_f("alpha", 0.2f), beta = r.n.attr_f("beta", 0.5f);
         unary(r, [&](double x) { return clamp(alpha * x + beta, 0, 1); });
       }},
      {"HardSwish", [](Run& r) { unary(r, [](double x) { return x * clamp(x / 6 + 0.5, 0, 1); }); }},
      {"Add", [](Run& r) { binary(r, [](double a, double b) { return a + b; }); }},
      {"Mul", [](Run& r) { binary(r, [](double a, double b) { return a * b; }); }},
      {"GlobalAveragePool", global_average_pool},
      {"Flatten", flatten},
      {"Reshape", reshape},
      {"Gemm", gemm},
      {"MatMul", matmul},
      {"Identity", copy},
      {"Dropout", copy},
      {"Split", split},
      {"Concat", concat},
  };
  return kOps;
}

}  // namespace

std::vector<std::vector<float>> run_reference(const Graph& g, const std::vector<std::vector<float>>& inputs) {
  if (inputs.size() != g.inputs.size())
    invalid("run_reference: " + std::to_string(inputs.size()) + " inputs given, the graph has " +
            std::to_string(g.inputs.size()));
  std::vector<Floats> vals(g.values.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = g.value(g.inputs[i]);
    if (v.dtype != DType::kFloat) unsupported("graph input '" + v.name + "' is not float32");
    if (static_cast<int64_t>(inputs[i].size()) != v.numel())
      invalid("graph input '" + v.name + "' needs " + std::to_string(v.numel()) + " values (shape " +
              shape_text(v.shape) + "), " + std::to_string(inputs[i].size()) + " given");
    vals[static_cast<size_t>(g.inputs[i])] = inputs[i];
  }
  for (const Node& n : g.nodes) {
    auto it = ops().find(n.op);
    if (it == ops().end()) unsupported(n.label() + ": operator " + n.op + " is not supported");
    Run r{g, vals, n};
    it->second(r);
  }
  std::vector<Floats> out;
  for (int id : g.outputs) {
    const Value& v = g.value(id);
    if (v.dtype != DType::kFloat) unsupported("graph output '" + v.name + "' is not float32");
    out.push_back(v.constant ? v.f : vals[static_cast<size_t>(id)]);
  }
  return out;
}

}  // namespace xsep::graph
