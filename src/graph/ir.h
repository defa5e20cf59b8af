// The graph runner's intermediate representation: an ONNX graph after loading,
// with every tensor's shape known for the chosen batch, constants decoded, and
// nodes in execution (topological) order. Backends and passes read this;
// onnx_loader.h makes it from a file, supported_ops.h checks it.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "xsep/xsep.h"

namespace xsep::graph {

// ONNX Clip's bounds when absent (Clip-1/6 attributes, Clip-11+ inputs): the
// float type's lowest and max, not +-inf, so +inf comes out as FLT_MAX.
inline constexpr float kClipDefaultMin = std::numeric_limits<float>::lowest();
inline constexpr float kClipDefaultMax = std::numeric_limits<float>::max();

// Graph code reports errors by throwing GraphError; the C API (graph_api.cpp)
// turns it into a status and xsep_last_error(), so no exception crosses it.
struct GraphError : std::runtime_error {
  xsep_status status;
  GraphError(xsep_status s, const std::string& what) : std::runtime_error(what), status(s) {}
};
[[noreturn]] inline void invalid(const std::string& what) {
  throw GraphError(XSEP_STATUS_INVALID_ARGUMENT, what);
}
[[noreturn]] inline void unsupported(const std::string& what) {
  throw GraphError(XSEP_STATUS_UNSUPPORTED, what);
}

enum class DType { kFloat, kInt64 };

// A tensor of the graph: an input, an output of a node, or a constant
// (initializer or Constant node).
struct Value {
  std::string name;
  DType dtype = DType::kFloat;
  std::vector<int64_t> shape;  // static: known at load time for the chosen batch
  bool constant = false;
  std::vector<float> f;    // constant data when dtype == kFloat
  std::vector<int64_t> i;  // constant data when dtype == kInt64
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct Attribute {
  enum class Kind { kInt, kFloat, kInts, kFloats, kString };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;
};

struct Node {
  std::string name;  // the ONNX node name, or "<op>#<index>" when it has none
  std::string op;    // ONNX op_type (default domain only)
  std::vector<int> in;   // value ids; -1 for an omitted optional input
  std::vector<int> out;  // value ids
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t attr_i(const std::string& a, int64_t dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.i;
  }
  float attr_f(const std::string& a, float dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.f;
  }
  std::vector<int64_t> attr_ints(const std::string& a, std::vector<int64_t> dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.ints;
  }
  std::string attr_s(const std::string& a, const std::string& dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.s;
  }
  // "node 'block5.dw' (Conv)": how error messages name a node.
  std::string label() const { return "node '" + name + "' (" + op + ")"; }
};

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;   // topological order
  std::vector<int> inputs;   // non-constant graph inputs
  std::vector<int> outputs;
  int64_t opset = 0;

  const Value& value(int id) const { return values.at(static_cast<size_t>(id)); }
};

}  // namespace xsep::graph
