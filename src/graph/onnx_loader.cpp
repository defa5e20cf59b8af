// Loads an ONNX file into the runner's IR (ir.h) with Debian's libonnx:
// protobuf parse, onnx::checker, shape inference for the chosen batch, then
// decoding of constants, attributes and static shapes.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <unordered_map>

#include "onnx_loader.h"
#include "shape_rules.h"
#include "supported_ops.h"

namespace xsep::graph {
namespace {

constexpr int64_t kMaxElements = XSEP_MAX_ELEMENTS;  // per tensor, as for the operators
constexpr int64_t kMaxAttribute = int64_t{1} << 30;  // Conv strides, dilations, pads, kernel_shape

std::vector<float> float_data(const onnx::TensorProto& t, int64_t count, const std::string& what) {
  std::vector<float> out;
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() != static_cast<size_t>(count) * 4)
      invalid(what + ": raw_data holds " + std::to_string(raw.size()) + " bytes, the shape needs " +
              std::to_string(count * 4));
    out.resize(static_cast<size_t>(count));
    std::memcpy(out.data(), raw.data(), raw.size());
  } else {
    if (t.float_data_size() != count)
      invalid(what + ": float_data holds " + std::to_string(t.float_data_size()) +
              " values, the shape needs " + std::to_string(count));
    out.assign(t.float_data().begin(), t.float_data().end());
  }
  return out;
}

std::vector<int64_t> int64_data(const onnx::TensorProto& t, int64_t count, const std::string& what) {
  std::vector<int64_t> out;
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (raw.size() != static_cast<size_t>(count) * 8)
      invalid(what + ": raw_data holds " + std::to_string(raw.size()) + " bytes, the shape needs " +
              std::to_string(count * 8));
    out.resize(static_cast<size_t>(count));
    std::memcpy(out.data(), raw.data(), raw.size());
  } else {
    if (t.int64_data_size() != count)
      invalid(what + ": int64_data holds " + std::to_string(t.int64_data_size()) +
              " values, the shape needs " + std::to_string(count));
    out.assign(t.int64_data().begin(), t.int64_data().end());
  }
  return out;
}

// Element count of `dims`, refusing negative, overflowing and huge shapes.
int64_t checked_numel(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) invalid(what + " has a negative dimension " + std::to_string(d));
    if (d == 0) unsupported(what + " is empty (a dimension is 0); empty tensors are not supported");
    if (__builtin_mul_overflow(n, d, &n))
      invalid(what + " declares a shape whose element count overflows 64 bits");
  }
  if (n > kMaxElements)
    unsupported(what + " declares " + std::to_string(n) + " elements; at most 2^31-1 per tensor are supported");
  return n;
}

Value constant_from_tensor(const onnx::TensorProto& t, const std::string& name) {
  Value v;
  v.name = name;
  v.constant = true;
  v.shape.assign(t.dims().begin(), t.dims().end());
  const std::string what = "constant '" + name + "'";
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    unsupported(what + " stores its data in an external file; only embedded data is supported");
  const int64_t count = v.shape.empty() ? 1 : checked_numel(v.shape, what);
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      v.dtype = DType::kFloat;
      v.f = float_data(t, count, what);
      break;
    case onnx::TensorProto::INT64:
      v.dtype = DType::kInt64;
      v.i = int64_data(t, count, what);
      break;
    case onnx::TensorProto::BOOL: {  // e.g. Dropout's training_mode: kept as 0 / 1
      v.dtype = DType::kInt64;
      if (t.has_raw_data()) {
        if (t.raw_data().size() != static_cast<size_t>(count)) invalid(what + ": raw_data size does not match the shape");
        for (char b : t.raw_data()) v.i.push_back(b != 0);
      } else {
        if (t.int32_data_size() != count) invalid(what + ": int32_data size does not match the shape");
        for (int32_t b : t.int32_data()) v.i.push_back(b != 0);
      }
      break;
    }
    default:
      unsupported(what + " has element type " +
                  onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(t.data_type())) +
                  "; supported: FLOAT, INT64");
  }
  return v;
}

Attribute decode_attribute(const onnx::AttributeProto& a, const std::string& where) {
  Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto::INT: out.kind = Attribute::Kind::kInt, out.i = a.i(); break;
    case onnx::AttributeProto::FLOAT: out.kind = Attribute::Kind::kFloat, out.f = a.f(); break;
    case onnx::AttributeProto::INTS:
      out.kind = Attribute::Kind::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      out.kind = Attribute::Kind::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRING: out.kind = Attribute::Kind::kString, out.s = a.s(); break;
    default:
      unsupported(where + ": attribute '" + a.name() + "' has type " +
                  onnx::AttributeProto_AttributeType_Name(a.type()) + ", which is not supported");
  }
  return out;
}

// Whether node n (ONNX np) is an Identity, Reshape or Flatten whose inputs are all
// constants, with one named output and only the attributes the operator defines.
bool fold_on_constants(const Node& n, const onnx::NodeProto& np, const Graph& g) {
  static const std::map<std::string, std::set<std::string>> kFoldable = {
      {"Identity", {}}, {"Reshape", {"allowzero"}}, {"Flatten", {"axis"}}};
  const auto rule = kFoldable.find(n.op);
  if (rule == kFoldable.end() || n.in.empty() || np.output_size() != 1 || np.output(0).empty()) return false;
  for (int v : n.in)
    if (v < 0 || !g.value(v).constant) return false;
  for (const auto& a : np.attribute())
    if (!rule->second.count(a.name())) return false;
  return true;
}

// Reshape's output shape follows from the values of its shape input, and
// Split's (opset 13 on) from the values of its split input. ONNX's shape
// inference sees those values only when they come straight from an
// initializer or a Constant; through an Identity of one (folded here only
// after inference) it leaves the dims unknown, and a value_info or graph
// output declaration then fills them in unchecked, so a model could declare a
// [4,1] where the data make a [1,4] and both backends would compute on the
// wrong shape. The shapes are therefore computed here from the constant
// values (shape_rules.h), one per output, and a disagreement is a malformed
// model. (Dims that neither inference nor a declaration gives stay refused as
// unknown: the nodes after them would not be known either.) Nothing (an
// empty vector) when the input that decides them is not constant.
std::vector<std::vector<int64_t>> shapes_from_constants(const Node& n, const Graph& g, const std::string& label) {
  if ((n.op != "Reshape" && !(n.op == "Split" && g.opset >= 13)) || n.in.size() < 2 || n.in[0] < 0 || n.in[1] < 0 ||
      !g.value(n.in[1]).constant)
    return {};
  const std::vector<int64_t>& in = g.value(n.in[0]).shape;
  const Value& c = g.value(n.in[1]);
  if (c.dtype != DType::kInt64 || c.shape.size() != 1) invalid(label + ": input '" + c.name + "' must be a 1-D int64 tensor");
  std::vector<std::vector<int64_t>> out(1);
  std::string why;
  if (n.op == "Reshape") {
    why = reshape_shape(in, c.i, n.attr_i("allowzero", 0) != 0, &out[0]);
  } else {
    const int64_t rank = static_cast<int64_t>(in.size()), axis = n.attr_i("axis", 0);
    if (axis < -rank || axis >= rank)
      invalid(label + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    why = split_shapes(in, static_cast<size_t>(axis < 0 ? axis + rank : axis), c.i, n.out.size(), &out);
  }
  if (!why.empty()) invalid(label + ": " + why);
  return out;
}

// The Constant operator's payload as a constant value.
Value constant_from_node(const onnx::NodeProto& n, const std::string& label) {
  if (n.attribute_size() != 1) invalid(label + ": a Constant needs exactly one value attribute");
  const onnx::AttributeProto& a = n.attribute(0);
  Value v;
  v.name = n.output(0);
  v.constant = true;
  if (a.name() == "value") return constant_from_tensor(a.t(), n.output(0));
  if (a.name() == "value_float") v.dtype = DType::kFloat, v.f = {a.f()};
  else if (a.name() == "value_floats") v.dtype = DType::kFloat, v.f.assign(a.floats().begin(), a.floats().end()), v.shape = {a.floats_size()};
  else if (a.name() == "value_int") v.dtype = DType::kInt64, v.i = {a.i()};
  else if (a.name() == "value_ints") v.dtype = DType::kInt64, v.i.assign(a.ints().begin(), a.ints().end()), v.shape = {a.ints_size()};
  else unsupported(label + ": Constant attribute '" + a.name() + "' is not supported");
  return v;
}

}  // namespace

// ONNX's checker and shape inference write several lines ("...\n\n==> Context:
// ..."); xsep_last_error() is one line, so each run of whitespace that holds a
// line break (\n, \r, \v or \f) becomes one space, and the ends are trimmed.
// Other control bytes (a NUL, an escape, ...: a corrupted file's node and
// tensor names reach the message) are written as \xNN, so that the message
// is neither cut short at a NUL nor able to drive a terminal; a tab stays.
std::string one_line(const std::string& text) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    bool newline = false;
    for (; j < text.size() && space(text[j]); ++j) newline |= text[j] != ' ' && text[j] != '\t';
    if (j > i && newline) {
      out += ' ';
      i = j;
    } else {
      const unsigned char c = static_cast<unsigned char>(text[i++]);
      static const char kHex[] = "0123456789ABCDEF";
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      else
        out += static_cast<char>(c);
    }
  }
  size_t b = 0, e = out.size();
  while (b < e && space(out[b])) ++b;
  while (e > b && space(out[e - 1])) --e;
  return out.substr(b, e - b);
}

Graph load_onnx(const std::string& path, int64_t batch) {
  if (batch < 0) invalid("batch = " + std::to_string(batch) + "; it must be >= 1 (or 0: as declared)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    invalid("'" + path + "' is not a readable file" + (std::filesystem::exists(path, ec) ? "" : " (it does not exist)"));
  std::ifstream file(path, std::ios::binary);
  if (!file) invalid("cannot open '" + path + "'");
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.empty()) invalid("'" + path + "' is empty, not an ONNX model");

  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    invalid("'" + path + "' is not an ONNX model (protobuf parsing failed: truncated or another format)");
  // Newer than this ONNX library understands: well-formed, but not for us. PyTorch's
  // default exporter (dynamo, torch >= 2.9) writes IR 10 and opset 18, past what
  // Debian 12's ONNX 1.12 reads (IR 8, opset 17): say how to export for this build.
  const int64_t max_opset = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map().at("").second;
  const std::string how = "; export for it at opset <= " + std::to_string(max_opset) + " and IR <= " +
                          std::to_string(onnx::IR_VERSION) + " (PyTorch: torch.onnx.export(..., dynamo=False, opset_version=" +
                          std::to_string(max_opset) + "))";
  if (model.ir_version() > onnx::IR_VERSION)
    unsupported("'" + path + "' has IR version " + std::to_string(model.ir_version()) + "; this build reads up to " +
                std::to_string(onnx::IR_VERSION) + how);
  for (const auto& op : model.opset_import())
    if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() > max_opset)
      unsupported("'" + path + "' imports ONNX opset " + std::to_string(op.version()) +
                  "; this build supports opsets up to " + std::to_string(max_opset) + how);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    invalid("'" + path + "' fails the ONNX checker: " + e.what());
  }

  // The default domain may be imported as "" or as "ai.onnx"; both at
  // different versions leave the operators' semantics ambiguous.
  Graph g;
  for (const auto& op : model.opset_import()) {
    if (!op.domain().empty() && op.domain() != "ai.onnx") continue;
    if (g.opset != 0 && g.opset != op.version())
      invalid("'" + path + "' imports the default ONNX domain twice, at opsets " + std::to_string(g.opset) +
              " and " + std::to_string(op.version()));
    g.opset = op.version();
  }
  onnx::GraphProto* gp = model.mutable_graph();

  std::set<std::string> initializer_names;
  for (const auto& t : gp->initializer()) initializer_names.insert(t.name());

  // Fix the batch: the first dimension of every real (non-initializer) input.
  for (auto& in : *gp->mutable_input()) {
    if (initializer_names.count(in.name())) continue;
    if (!in.type().has_tensor_type())
      unsupported("graph input '" + in.name() + "' is not a tensor");
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() == 0) continue;
    auto* d0 = shape->mutable_dim(0);
    if (batch > 0 && d0->has_dim_value() && d0->dim_value() != batch)
      invalid("graph input '" + in.name() + "' has a fixed batch of " +
              std::to_string(d0->dim_value()) + "; batch " + std::to_string(batch) + " cannot apply");
    if (!d0->has_dim_value()) d0->set_dim_value(batch > 0 ? batch : 1);
    // Shape inference loops and multiplies over these sizes (ONNX 1.12's SAME
    // padding subtracts the stride until the size is reached): bound them first.
    std::vector<int64_t> dims;
    for (const auto& d : shape->dim())
      if (d.has_dim_value()) dims.push_back(d.dim_value());
    checked_numel(dims, "graph input '" + in.name() + "'");
  }
  for (const auto& t : gp->initializer())
    checked_numel(std::vector<int64_t>(t.dims().begin(), t.dims().end()), "constant '" + t.name() + "'");

  // Operators we do not run are refused before shape inference, whose
  // functions for some of them crash on bad attributes (MaxPool strides 0).
  for (int ni = 0; ni < gp->node_size(); ++ni) {
    const onnx::NodeProto& np = gp->node(ni);
    const std::string label = "node '" + (np.name().empty() ? np.op_type() + "#" + std::to_string(ni) : np.name()) +
                              "' (" + np.op_type() + ")";
    if (!np.domain().empty() && np.domain() != "ai.onnx")
      unsupported(label + ": domain '" + np.domain() + "' is not supported (only the default ONNX domain)");
    if (!is_supported_op(np.op_type())) unsupported(label + ": operator " + np.op_type() + " is not supported");
  }

  // ONNX's Conv shape inference divides by the strides and dilations without
  // checking them (a zero stride is a SIGFPE): refuse such values first.
  for (int ni = 0; ni < gp->node_size(); ++ni) {
    const onnx::NodeProto& np = gp->node(ni);
    if (np.op_type() != "Conv") continue;
    const std::string label = "node '" + (np.name().empty() ? "Conv#" + std::to_string(ni) : np.name()) + "' (Conv)";
    for (const auto& a : np.attribute()) {
      const int64_t lo = a.name() == "pads" ? 0 : 1;
      if (a.name() != "strides" && a.name() != "dilations" && a.name() != "kernel_shape" && a.name() != "pads" &&
          a.name() != "group")
        continue;
      std::vector<int64_t> values(a.ints().begin(), a.ints().end());
      if (a.name() == "group") values = {a.i()};
      for (int64_t v : values) {
        if (v < lo)
          invalid(label + ": attribute " + a.name() + " has the value " + std::to_string(v) + "; it must be >= " +
                  std::to_string(lo));
        if (v > kMaxAttribute)  // keeps inference's and the backends' arithmetic in range
          unsupported(label + ": attribute " + a.name() + " has the value " + std::to_string(v) +
                      "; at most 2^30 is supported");
      }
    }
  }

  try {
    onnx::ShapeInferenceOptions options{/*check_type=*/true, /*error_mode=*/1,
                                        /*enable_data_propagation=*/true};
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    invalid("'" + path + "': shape inference failed: " + e.what());
  }

  // Every tensor's type and static shape, from inputs, outputs and value_info.
  struct TypeInfo {
    int elem_type;
    std::vector<int64_t> dims;
    bool known;
  };
  std::unordered_map<std::string, TypeInfo> types;
  auto note = [&](const onnx::ValueInfoProto& vi) {
    TypeInfo ti{0, {}, true};
    if (!vi.type().has_tensor_type()) return;
    ti.elem_type = vi.type().tensor_type().elem_type();
    if (!vi.type().tensor_type().has_shape()) ti.known = false;
    for (const auto& d : vi.type().tensor_type().shape().dim()) {
      if (!d.has_dim_value()) ti.known = false;
      ti.dims.push_back(d.dim_value());
    }
    types[vi.name()] = ti;
  };
  for (const auto& vi : gp->input()) note(vi);
  for (const auto& vi : gp->value_info()) note(vi);
  for (const auto& vi : gp->output()) note(vi);

  std::unordered_map<std::string, int> ids;
  auto add_value = [&](Value v) {
    ids[v.name] = static_cast<int>(g.values.size());
    g.values.push_back(std::move(v));
    return static_cast<int>(g.values.size() - 1);
  };
  // A non-constant tensor's value, typed and shaped by inference; `computed`
  // (shapes_from_constants') must agree with that shape.
  auto add_runtime_value = [&](const std::string& name, const std::string& producer,
                               const std::vector<int64_t>* computed = nullptr) {
    auto it = types.find(name);
    if (it == types.end() || !it->second.known)
      unsupported(producer + ": the shape of '" + name +
                  "' is not known after shape inference; the runner needs static shapes");
    if (computed && it->second.dims != *computed)
      invalid(producer + ": output '" + name + "' is declared or inferred as " + shape_text(it->second.dims) +
              ", but its constant input gives " + shape_text(*computed));
    Value v;
    v.name = name;
    if (it->second.elem_type == onnx::TensorProto::FLOAT) v.dtype = DType::kFloat;
    else if (it->second.elem_type == onnx::TensorProto::INT64) v.dtype = DType::kInt64;
    else
      unsupported(producer + ": tensor '" + name + "' has element type " +
                  onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(it->second.elem_type)) +
                  "; supported: FLOAT (and INT64 constants)");
    v.shape = it->second.dims;
    checked_numel(v.shape, "tensor '" + name + "'");
    return add_value(std::move(v));
  };

  for (const auto& t : gp->initializer()) add_value(constant_from_tensor(t, t.name()));
  for (const auto& in : gp->input()) {
    if (initializer_names.count(in.name())) continue;
    g.inputs.push_back(add_runtime_value(in.name(), "graph input"));
    if (g.values.back().dtype != DType::kFloat)
      unsupported("graph input '" + in.name() + "' is not float32; the runner feeds float32 inputs only");
  }

  for (int ni = 0; ni < gp->node_size(); ++ni) {
    const onnx::NodeProto& np = gp->node(ni);
    Node n;
    n.op = np.op_type();
    n.name = np.name().empty() ? n.op + "#" + std::to_string(ni) : np.name();
    const std::string label = n.label();
    if (!np.domain().empty() && np.domain() != "ai.onnx")
      unsupported(label + ": domain '" + np.domain() + "' is not supported (only the default ONNX domain)");
    if (n.op == "Constant") {
      add_value(constant_from_node(np, label));
      continue;
    }
    for (const auto& name : np.input()) {
      if (name.empty()) {
        n.in.push_back(-1);
        continue;
      }
      auto it = ids.find(name);
      if (it == ids.end())  // the checker catches this; kept for a clear message
        invalid(label + ": input '" + name + "' is neither a graph input, an initializer nor produced earlier (missing initializer or a cycle)");
      n.in.push_back(it->second);
    }
    for (const auto& a : np.attribute()) n.attrs[a.name()] = decode_attribute(a, label);
    n.out.assign(static_cast<size_t>(np.output_size()), -1);  // counted by shapes_from_constants
    const std::vector<std::vector<int64_t>> computed = shapes_from_constants(n, g, label);
    for (int k = 0; k < np.output_size(); ++k) {
      const std::string& name = np.output(k);
      if (name.empty()) continue;
      if (ids.count(name)) invalid(label + ": output '" + name + "' is produced twice");
      n.out[static_cast<size_t>(k)] =
          add_runtime_value(name, label, computed.empty() ? nullptr : &computed[static_cast<size_t>(k)]);
    }
    // Identity, Reshape and Flatten of constants are constants: folded here (the
    // output keeps inference's type and shape, takes the input's data, and the node
    // is dropped), so that the backends see a constant, which the cuda backend
    // takes as a weight or an operand. PyTorch's exporter writes such Identity
    // nodes where two parameters hold equal values (torchvision's
    // mobilenet_v3_small at its initial weights has them), and reshapes constants
    // for broadcasting. Only attributes these operators define are accepted here
    // (others reach check_supported, which names them).
    if (fold_on_constants(n, np, g)) {
      Value& v = g.values[n.out[0]];
      const Value& from = g.values[n.in[0]];
      if (v.dtype != from.dtype || v.numel() != from.numel())
        invalid(label + ": output '" + v.name + "' does not have the type and size of its input '" + from.name + "'");
      v.constant = true;
      v.f = from.f;
      v.i = from.i;
      continue;
    }
    g.nodes.push_back(std::move(n));
  }
  for (const auto& out : gp->output()) {
    auto it = ids.find(out.name());
    if (it == ids.end()) invalid("graph output '" + out.name() + "' is never produced");
    // Nodes check their own outputs (supported_ops.cpp); a graph output can also be
    // an initializer or a folded constant, which no node check sees.
    if (g.value(it->second).dtype != DType::kFloat)
      unsupported("graph output '" + out.name() + "' is not float32; the runner returns float32 outputs only");
    g.outputs.push_back(it->second);
  }
  // xsep_graph_input_shape / _output_shape report at most 8 dims (graph.h).
  for (const auto* list : {&g.inputs, &g.outputs})
    for (int v : *list)
      if (g.value(v).shape.size() > 8)
        unsupported("graph " + std::string(list == &g.inputs ? "input" : "output") + " '" + g.value(v).name +
                    "' has rank " + std::to_string(g.value(v).shape.size()) + "; at most 8 is supported");
  check_supported(g);
  return g;
}

}  // namespace xsep::graph
