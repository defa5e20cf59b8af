// What the runner supports, checked once at load time so that a model is
// refused up front, with the node, operator and reason, rather than mid-run.
#include <algorithm>
#include <cstdint>
#include <set>

#include "conv_geometry.h"
#include "shape_rules.h"
#include "supported_ops.h"

namespace xsep::graph {
namespace {

struct OpRule {
  std::set<std::string> attrs;  // attributes the runner understands
  int min_inputs, max_inputs;
};

const std::map<std::string, OpRule>& rules() {
  static const std::map<std::string, OpRule> kRules = {
      {"Conv", {{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, 2, 3}},
      {"BatchNormalization", {{"epsilon", "momentum", "spatial", "training_mode"}, 5, 5}},
      {"Relu", {{}, 1, 1}},
      {"Clip", {{"min", "max"}, 1, 3}},
      {"HardSwish", {{}, 1, 1}},
      {"HardSigmoid", {{"alpha", "beta"}, 1, 1}},
      {"Add", {{}, 2, 2}},
      {"Mul", {{}, 2, 2}},
      {"GlobalAveragePool", {{}, 1, 1}},
      {"Flatten", {{"axis"}, 1, 1}},
      {"Reshape", {{"allowzero"}, 2, 2}},
      {"Gemm", {{"alpha", "beta", "transA", "transB"}, 2, 3}},
      {"MatMul", {{}, 2, 2}},
      {"Identity", {{}, 1, 1}},
      {"Dropout", {{"ratio", "seed"}, 1, 3}},
      {"Split", {{"axis", "split", "num_outputs"}, 1, 2}},
      {"Concat", {{"axis"}, 1, 1 << 20}},
  };
  return kRules;
}

// ONNX shape inference (1.12) accepts some Conv attributes that make no sense;
// refuse them here with the attribute and value.
void check_conv_attributes(const Graph& g, const Node& n, const std::string& where) {
  const auto& x = g.value(n.in[0]).shape;
  const auto& w = g.value(n.in[1]).shape;
  if (w.size() != 4) invalid(where + ": weight has rank " + std::to_string(w.size()) + "; expected 4");
  const int64_t group = n.attr_i("group", 1);
  if (group < 1 || x[1] % group != 0 || w[0] % group != 0 || w[1] * group != x[1])
    invalid(where + ": group = " + std::to_string(group) + " does not fit " + std::to_string(x[1]) +
            " input channels and weight shape " + shape_text(w));
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto dilations = n.attr_ints("dilations", {1, 1});
  const auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  const auto kernel = n.attr_ints("kernel_shape", {w[2], w[3]});
  auto all = [](const std::vector<int64_t>& v, int64_t lo) {
    for (int64_t e : v)
      if (e < lo) return false;
    return true;
  };
  if (strides.size() != 2 || !all(strides, 1)) invalid(where + ": strides " + shape_text(strides) + "; need 2 values >= 1");
  if (dilations.size() != 2 || !all(dilations, 1))
    invalid(where + ": dilations " + shape_text(dilations) + "; need 2 values >= 1");
  if (pads.size() != 4 || !all(pads, 0)) invalid(where + ": pads " + shape_text(pads) + "; need 4 values >= 0");
  if (kernel.size() != 2 || kernel[0] != w[2] || kernel[1] != w[3] || !all(kernel, 1))
    invalid(where + ": kernel_shape " + shape_text(kernel) + " does not match the weight shape " + shape_text(w));
  if (n.in.size() > 2 && n.in[2] >= 0 && g.value(n.in[2]).shape != std::vector<int64_t>{w[0]})
    invalid(where + ": bias shape " + shape_text(g.value(n.in[2]).shape) + "; expected [" + std::to_string(w[0]) + "]");
  // ONNX: "pads ... cannot be used simultaneously with auto_pad". ONNX 1.12's
  // shape inference would size the output from pads, the backends from auto_pad.
  const std::string auto_pad = n.attr_s("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && n.has("pads"))
    invalid(where + ": pads " + shape_text(pads) + " and auto_pad " + auto_pad + " are both given; ONNX allows one of them");
  // The output shape the backends compute must be the one inference gave (the
  // shape the activation memory is sized for), and every padded index must fit
  // the kernels' int arithmetic.
  const auto& y = g.value(n.out[0]).shape;
  for (int d = 0; d < 2; ++d) {
    const char* axis = d == 0 ? "height" : "width";
    const ConvAxis a = conv_axis(auto_pad, x[2 + d], w[2 + d], strides[d], dilations[d], pads[d], pads[d + 2]);
    if (a.extent > INT32_MAX)
      unsupported(where + ": the padded input " + axis + " is " + std::to_string(a.extent) + "; at most 2^31-1 is supported");
    if (a.out < 1)
      invalid(where + ": the dilated kernel " + axis + " " + std::to_string(a.kernel_extent) +
              " is larger than the padded input " + axis + " " + std::to_string(a.extent));
    if (y.size() != 4 || y[2 + d] != a.out)
      invalid(where + ": output shape " + shape_text(y) + " disagrees with the attributes, which give an output " + axis +
              " of " + std::to_string(a.out));
  }
}

void check_node(const Graph& g, const Node& n) {
  const std::string where = n.label();
  auto it = rules().find(n.op);
  if (it == rules().end()) unsupported(where + ": operator " + n.op + " is not supported");
  const OpRule& r = it->second;
  // Before opset 7 these operators mean something else: BatchNormalization and
  // Dropout default to training (is_test = 0), Add, Mul and Gemm do not
  // broadcast (broadcast = 0), Concat-1 has a default axis.
  static const std::set<std::string> kChangedAt7 = {"BatchNormalization", "Dropout", "Add", "Mul", "Gemm", "Concat"};
  if (g.opset < 7 && kChangedAt7.count(n.op))
    unsupported(where + ": the opset-" + std::to_string(g.opset) + " form of " + n.op +
                " is not supported (its semantics changed at opset 7, which the runner implements)");
  for (const auto& [name, a] : n.attrs)
    if (!r.attrs.count(name)) unsupported(where + ": attribute '" + name + "' is not supported");
  const int n_in = static_cast<int>(n.in.size());
  if (n_in < r.min_inputs || n_in > r.max_inputs)
    invalid(where + ": has " + std::to_string(n_in) + " inputs");

  // Data inputs must be float; int64 only where ONNX wants shapes or sizes.
  for (size_t i = 0; i < n.in.size(); ++i) {
    if (n.in[i] < 0) continue;
    const Value& v = g.value(n.in[i]);
    // Dropout's ratio (input 1) is a float and ignored at inference; its
    // training_mode (input 2, BOOL) must be a constant false.
    const bool shape_input = (n.op == "Reshape" && i == 1) || (n.op == "Split" && i == 1) ||
                             (n.op == "Dropout" && i == 2);
    if (shape_input) {
      if (!v.constant)
        unsupported(where + ": input '" + v.name + "' must be a constant (shapes are static)");
      continue;
    }
    if (v.dtype != DType::kFloat)
      unsupported(where + ": input '" + v.name + "' is not float32; only float32 tensors are supported");
  }
  // Outputs left unnamed (""): only optional ones may be, and Split's are not
  // optional (an omitted part would leave the later parts' offsets unknown).
  if (n.op == "Split" && std::find(n.out.begin(), n.out.end(), -1) != n.out.end())
    unsupported(where + ": an output is omitted (empty name); every part of a Split must be named");
  if (n.out.empty() || n.out[0] < 0) invalid(where + ": its first output is omitted (empty name)");
  for (int o : n.out)
    if (o >= 0 && g.value(o).dtype != DType::kFloat)
      unsupported(where + ": output '" + g.value(o).name + "' is not float32");

  if (n.op == "Conv") {
    const std::string pad = n.attr_s("auto_pad", "NOTSET");
    if (pad != "NOTSET" && pad != "VALID" && pad != "SAME_UPPER" && pad != "SAME_LOWER")
      invalid(where + ": auto_pad '" + pad + "' is not an ONNX value");
    if (g.value(n.in[0]).shape.size() != 4)
      unsupported(where + ": only 2-D convolutions (4-D tensors) are supported");
    check_conv_attributes(g, n, where);
  }
  if (n.op == "BatchNormalization") {
    if (n.attr_i("training_mode", 0) != 0) unsupported(where + ": training_mode = 1 is not supported");
    if (std::count_if(n.out.begin(), n.out.end(), [](int o) { return o >= 0; }) != 1)
      unsupported(where + ": only the inference form (one output) is supported");
    if (n.has("spatial") && n.attr_i("spatial", 1) != 1) unsupported(where + ": spatial = 0 is not supported");
  }
  if (n.op == "Dropout") {
    if (n.out.size() > 1 && n.out[1] >= 0)
      unsupported(where + ": the mask output is not supported (inference only)");
    if (n.in.size() == 3 && n.in[2] >= 0) {
      const Value& t = g.value(n.in[2]);
      if (!t.i.empty() && t.i[0] != 0) unsupported(where + ": training_mode = true is not supported");
    }
  }
  // Negative axes count from the end from opset 11 on; before, they are
  // invalid (the reference backend refused them only when run).
  if ((n.op == "Concat" || n.op == "Split" || n.op == "Flatten") && g.opset < 11 && n.attr_i("axis", 0) < 0)
    invalid(where + ": axis " + std::to_string(n.attr_i("axis", 0)) + " is negative, which ONNX allows from opset 11; "
            "this model imports opset " + std::to_string(g.opset));
  if (n.op == "GlobalAveragePool" && g.value(n.in[0]).shape.size() < 3)
    invalid(where + ": needs a tensor of rank >= 3");
  // Shape contracts ONNX 1.12's shape inference does not enforce; a backend
  // relying on them would read out of bounds.
  if (n.op == "BatchNormalization") {
    const auto& x = g.value(n.in[0]).shape;
    if (x.size() < 2) invalid(where + ": input has rank " + std::to_string(x.size()) + "; need >= 2");
    static const char* kParam[] = {"scale", "B", "mean", "var"};
    for (int i = 1; i < 5; ++i)
      if (g.value(n.in[i]).shape != std::vector<int64_t>{x[1]})
        invalid(where + ": " + kParam[i - 1] + " '" + g.value(n.in[i]).name + "' has shape " +
                shape_text(g.value(n.in[i]).shape) + "; expected [" + std::to_string(x[1]) + "]");
  }
  if (n.op == "Gemm") {
    const auto& a = g.value(n.in[0]).shape;
    const auto& b = g.value(n.in[1]).shape;
    if (a.size() != 2 || b.size() != 2)
      invalid(where + ": A " + shape_text(a) + " and B " + shape_text(b) + " must both have rank 2");
    const int64_t m = n.attr_i("transA", 0) ? a[1] : a[0], ka = n.attr_i("transA", 0) ? a[0] : a[1];
    const int64_t kb = n.attr_i("transB", 0) ? b[1] : b[0], nn = n.attr_i("transB", 0) ? b[0] : b[1];
    if (ka != kb) invalid(where + ": inner dimensions differ: A' is " + std::to_string(m) + "x" + std::to_string(ka) +
                          ", B' is " + std::to_string(kb) + "x" + std::to_string(nn));
    if (n.in.size() > 2 && n.in[2] >= 0) {
      auto c = g.value(n.in[2]).shape;
      if (c.size() > 2) invalid(where + ": C " + shape_text(c) + " has rank > 2");
      while (c.size() < 2) c.insert(c.begin(), 1);
      if ((c[0] != 1 && c[0] != m) || (c[1] != 1 && c[1] != nn))
        invalid(where + ": C " + shape_text(g.value(n.in[2]).shape) + " does not broadcast to [" + std::to_string(m) +
                ", " + std::to_string(nn) + "]");
    }
  }
  if (n.op == "Reshape" || n.op == "Flatten" || n.op == "Identity" || n.op == "Dropout") {
    if (g.value(n.in[0]).numel() != g.value(n.out[0]).numel())
      invalid(where + ": output " + shape_text(g.value(n.out[0]).shape) + " has a different element count than input " +
              shape_text(g.value(n.in[0]).shape));
  }
}

}  // namespace

bool is_supported_op(const std::string& op) { return op == "Constant" || rules().count(op) != 0; }

void check_supported(const Graph& g) {
  for (const Node& n : g.nodes) check_node(g, n);
}

}  // namespace xsep::graph
