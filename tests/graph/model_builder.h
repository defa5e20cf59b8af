// Building small ONNX models for the graph runner's tests (ONNX's protobuf
// classes), and the positive-control model they share: x [1,3,8,8] -> Conv 3x3
// pad 1 (4 filters, bias) -> Relu -> y [1,4,8,8], with its output computed
// directly in double.
#pragma once
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace xsep_test {

constexpr int kFloat = onnx::TensorProto::FLOAT;

inline onnx::ModelProto new_model(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(7);  // opset 13's IR version
  m.set_producer_name("xsep_graph_tests");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("test_model");
  return m;
}

inline void set_type(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& dims, int elem) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}
inline void add_input(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims, int elem = kFloat) {
  set_type(m.mutable_graph()->add_input(), name, dims, elem);
}
inline void add_output(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                       int elem = kFloat) {
  set_type(m.mutable_graph()->add_output(), name, dims, elem);
}
// A graph output of rank `rank` whose dims are symbols (left to inference).
inline void add_output_unshaped(onnx::ModelProto& m, const std::string& name, int rank) {
  auto* vi = m.mutable_graph()->add_output();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(kFloat);
  auto* shape = tt->mutable_shape();
  for (int i = 0; i < rank; ++i) shape->add_dim()->set_dim_param(name + "_d" + std::to_string(i));
}

// Deterministic values in [-1, 1).
inline std::vector<float> values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

inline void add_initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                     const std::vector<float>& data) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(kFloat);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
}

// A 1-D int64 initializer (Reshape's shape, Split's sizes).
inline void add_int64_initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& data) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(data.size()));
  for (int64_t v : data) t->add_int64_data(v);
}

// A value_info entry: the model declares the type and shape of an intermediate tensor.
inline void add_value_info(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims) {
  set_type(m.mutable_graph()->add_value_info(), name, dims, kFloat);
}

inline onnx::NodeProto* add_node(onnx::ModelProto& m, const std::string& op, const std::string& name,
                          const std::vector<std::string>& ins, const std::vector<std::string>& outs,
                          const std::string& domain = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  if (!domain.empty()) n->set_domain(domain);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}
inline void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
inline void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// The positive control: x [1,3,8,8] -> Conv 3x3 pad 1 (4 filters, bias) -> Relu -> y [1,4,8,8].
constexpr int64_t kN = 1, kC = 3, kH = 8, kW = 8, kCo = 4, kK = 3;
inline onnx::ModelProto conv_relu_model() {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {kN, kC, kH, kW});
  add_initializer(m, "conv.weight", {kCo, kC, kK, kK}, values(kCo * kC * kK * kK, 1));
  add_initializer(m, "conv.bias", {kCo}, values(kCo, 2));
  auto* conv = add_node(m, "Conv", "conv", {"x", "conv.weight", "conv.bias"}, {"t"});
  attr_ints(conv, "kernel_shape", {kK, kK});
  attr_ints(conv, "pads", {1, 1, 1, 1});
  add_node(m, "Relu", "relu", {"t"}, {"y"});
  add_output(m, "y", {kN, kCo, kH, kW});
  return m;
}

// y of conv_relu_model, computed directly in double.
inline std::vector<float> conv_relu_expected(const std::vector<float>& x) {
  const std::vector<float> w = values(kCo * kC * kK * kK, 1), b = values(kCo, 2);
  std::vector<float> y(kN * kCo * kH * kW);
  for (int64_t o = 0; o < kCo; ++o)
    for (int64_t i = 0; i < kH; ++i)
      for (int64_t j = 0; j < kW; ++j) {
        double acc = b[o];
        for (int64_t c = 0; c < kC; ++c)
          for (int64_t ki = 0; ki < kK; ++ki)
            for (int64_t kj = 0; kj < kK; ++kj) {
              const int64_t yi = i + ki - 1, xj = j + kj - 1;
              if (yi < 0 || yi >= kH || xj < 0 || xj >= kW) continue;
              acc += double(w[((o * kC + c) * kK + ki) * kK + kj]) * x[(c * kH + yi) * kW + xj];
            }
        y[(o * kH + i) * kW + j] = static_cast<float>(std::max(acc, 0.0));
      }
  return y;
}

}  // namespace xsep_test
