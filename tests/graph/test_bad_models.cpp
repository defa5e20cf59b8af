// Bad models and bad calls through the graph runner's C API (xsep/graph.h),
// with both backends (REFERENCE and CUDA; the CUDA backend runs on the
// emulated device in an XSEP_DEVICE=emu build). Each case writes its model to a
// temporary directory (built with ONNX's protobuf classes, or raw bytes) and
// checks what a user gets back from xsep_graph_load:
//   - the exact status: INVALID_ARGUMENT for a malformed file or call,
//     UNSUPPORTED for a well-formed model using something the runner does not
//     provide (an operator, attribute, type, size or opset);
//   - a non-empty xsep_last_error() naming the problem (the node and operator,
//     the tensor, the number);
//   - *graph set to NULL; no crash and no leak (CI runs this under ASan/LSan).
// One positive control (Conv + Relu) checks both backends against a direct
// computation, and the NULL-argument cases use it. A few models the runner must
// accept are checked here too, where a lowering bug showed as a wrong or failed
// run (Gemm with beta = 0, a standalone float16 BatchNorm, an SE-like padded
// FC, a depthwise conv wider than the C API takes).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "graph/ir.h"  // one_line
#include "graph_bad_options.h"
#include "xsep/graph.h"

namespace fs = std::filesystem;

namespace {

const xsep_backend kBackends[] = {XSEP_BACKEND_REFERENCE, XSEP_BACKEND_CUDA};
const char* backend_name(xsep_backend b) { return b == XSEP_BACKEND_CUDA ? "cuda" : "reference"; }

// ---- Building models ------------------------------------------------------------

constexpr int kFloat = onnx::TensorProto::FLOAT;

onnx::ModelProto new_model(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(7);  // opset 13's IR version
  m.set_producer_name("xsep_graph_tests");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("bad_model");
  return m;
}

void set_type(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& dims, int elem) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}
void add_input(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims, int elem = kFloat) {
  set_type(m.mutable_graph()->add_input(), name, dims, elem);
}
void add_output(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                int elem = kFloat) {
  set_type(m.mutable_graph()->add_output(), name, dims, elem);
}
// A graph output of rank `rank` whose dims are symbols (left to inference).
void add_output_unshaped(onnx::ModelProto& m, const std::string& name, int rank) {
  auto* vi = m.mutable_graph()->add_output();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(kFloat);
  auto* shape = tt->mutable_shape();
  for (int i = 0; i < rank; ++i) shape->add_dim()->set_dim_param(name + "_d" + std::to_string(i));
}

// Deterministic values in [-1, 1).
std::vector<float> values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

void add_initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                     const std::vector<float>& data) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(kFloat);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
}

onnx::NodeProto* add_node(onnx::ModelProto& m, const std::string& op, const std::string& name,
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
void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// The positive control: x [1,3,8,8] -> Conv 3x3 pad 1 (4 filters, bias) -> Relu -> y [1,4,8,8].
constexpr int64_t kN = 1, kC = 3, kH = 8, kW = 8, kCo = 4, kK = 3;
onnx::ModelProto conv_relu_model() {
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
std::vector<float> conv_relu_expected(const std::vector<float>& x) {
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

// ---- The fixture: a temporary directory, loading, refusal checks ----------------

std::string status_name(xsep_status s) { return xsep_status_string(s); }

class BadModel : public testing::Test {
 protected:
  fs::path dir_;

  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info->name();  // "Refused/conv_stride0" for parameterized tests
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    dir_ = fs::path(testing::TempDir()) / ("xsep_bad_models_" + std::to_string(getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (std::getenv("XSEP_TEST_KEEP_FILES")) return;  // to inspect the models
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write_bytes(const std::string& file, const std::string& bytes) {
    const fs::path p = dir_ / file;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  std::string write(const std::string& file, const onnx::ModelProto& m) {
    std::string bytes;
    EXPECT_TRUE(m.SerializeToString(&bytes));
    return write_bytes(file, bytes);
  }

  static xsep_graph_options options(xsep_backend backend, int64_t batch = 0) {
    xsep_graph_options o;
    xsep_graph_default_options(&o);
    o.backend = backend;
    o.batch = batch;
    return o;
  }

  // Loads `path` on `backend` and runs it on one input into *y (sized by the
  // caller); false, with nothing to check, where a CUDA build has no GPU. A
  // failed load or run is a test failure.
  static bool run_one(const std::string& path, xsep_backend backend, const std::vector<float>& x,
                      std::vector<float>* y) {
    const xsep_graph_options o = options(backend);
    xsep_graph* g = nullptr;
    const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
    if (s == XSEP_STATUS_NO_DEVICE) return false;
    EXPECT_EQ(s, XSEP_STATUS_SUCCESS) << xsep_last_error();
    if (s != XSEP_STATUS_SUCCESS) return false;
    const float* ins[] = {x.data()};
    float* outs[] = {y->data()};
    EXPECT_EQ(xsep_graph_run(g, ins, outs), XSEP_STATUS_SUCCESS) << xsep_last_error();
    xsep_graph_destroy(g);
    return true;
  }

  // xsep_graph_load must fail with `expected`, set *graph to NULL, and leave an
  // error message, led by the function's name, matching every regex of
  // `patterns` (case-insensitive), for both backends.
  void expect_refused(const std::string& path, xsep_status expected, const std::vector<std::string>& patterns,
                      int64_t batch = 0) {
    expect_refused_any(path, {expected}, patterns, batch);
  }
  // The same, accepting any status of `allowed`.
  void expect_refused_any(const std::string& path, const std::vector<xsep_status>& allowed,
                          const std::vector<std::string>& patterns, int64_t batch = 0) {
    for (xsep_backend backend : kBackends) {
      SCOPED_TRACE(std::string("backend ") + backend_name(backend));
      const xsep_graph_options o = options(backend, batch);
      xsep_graph* sentinel = reinterpret_cast<xsep_graph*>(uintptr_t{0x10});
      xsep_graph* g = sentinel;
      const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
      const std::string err = s != XSEP_STATUS_SUCCESS && xsep_last_error() ? xsep_last_error() : "";
      if (std::getenv("XSEP_TEST_VERBOSE"))
        std::cout << "[ MESSAGE  ] " << backend_name(backend) << ": " << status_name(s) << ": " << err << '\n';
      std::string want;
      for (xsep_status a : allowed) want += (want.empty() ? "" : " or ") + status_name(a);
      EXPECT_NE(std::find(allowed.begin(), allowed.end(), s), allowed.end())
          << "status " << status_name(s) << ", expected " << want << "; xsep_last_error: " << err;
      EXPECT_EQ(g, nullptr) << "*graph must be NULL after a failed load";
      if (g != nullptr && g != sentinel) xsep_graph_destroy(g);
      if (s == XSEP_STATUS_SUCCESS) continue;
      EXPECT_FALSE(err.empty());
      EXPECT_EQ(err.rfind("xsep_graph_load", 0), 0u) << err;
      EXPECT_EQ(err.find_first_of("\n\r"), std::string::npos) << "the error must be one line: " << err;
      for (const auto& p : patterns)
        EXPECT_TRUE(std::regex_search(err, std::regex(p, std::regex::icase)))
            << "the error does not match /" << p << "/: " << err;
    }
  }

  // expect_refused, after a first try of both loads in a child process: a crash
  // there fails the test instead of ending the whole run (the in-process check,
  // which LSan watches, runs only when the child survived).
  void expect_refused_no_crash(const std::string& path, const std::vector<xsep_status>& allowed,
                               const std::vector<std::string>& patterns) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const testing::TestResult* result = testing::UnitTest::GetInstance()->current_test_info()->result();
    const int before = result->total_part_count();
    EXPECT_EXIT(
        {
          for (xsep_backend backend : kBackends) {
            const xsep_graph_options o = options(backend);
            xsep_graph* g = nullptr;
            xsep_graph_load(path.c_str(), &o, &g);
            xsep_graph_destroy(g);
          }
          std::error_code ec;  // the child's own directory: no TearDown after _Exit
          fs::remove_all(dir_, ec);
          std::_Exit(0);
        },
        testing::ExitedWithCode(0), "")
        << "xsep_graph_load crashed on " << path;
    if (result->total_part_count() != before) return;
    expect_refused_any(path, allowed, patterns);
  }
};

// ---- Unreadable and malformed files ---------------------------------------------------

// xsep_last_error() is one line: every line break (and the blanks around it)
// becomes one space, the ends are trimmed, other text is kept as it is.
TEST(BadModelMessage, OneLine) {
  using xsep::graph::one_line;
  EXPECT_EQ(one_line("checker: bad node\n\n==> Context: Bad node spec"), "checker: bad node ==> Context: Bad node spec");
  EXPECT_EQ(one_line("a\r\nb\rc\vd\fe"), "a b c d e");
  EXPECT_EQ(one_line("  keeps  inner  blanks\t"), "keeps  inner  blanks");
  EXPECT_EQ(one_line("\n\t \n"), "");
  EXPECT_EQ(one_line("trailing \n"), "trailing");
}

TEST_F(BadModel, NonexistentPath) {
  const std::string path = (dir_ / "no_such_model.onnx").string();
  expect_refused(path, XSEP_STATUS_INVALID_ARGUMENT, {"no_such_model\\.onnx", "cannot open|no such file|not exist"});
}

TEST_F(BadModel, DirectoryPath) {
  // A directory is no model either; the message should still name it.
  const fs::path d = dir_ / "model_dir.onnx";
  fs::create_directories(d);
  expect_refused(d.string(), XSEP_STATUS_INVALID_ARGUMENT, {"model_dir\\.onnx", "director|not .*file|cannot"});
}

TEST_F(BadModel, EmptyFile) {
  const std::string path = write_bytes("empty.onnx", "");
  expect_refused(path, XSEP_STATUS_INVALID_ARGUMENT, {"empty\\.onnx", "empty"});
}

TEST_F(BadModel, TruncatedFile) {
  std::string bytes;
  ASSERT_TRUE(conv_relu_model().SerializeToString(&bytes));
  ASSERT_GT(bytes.size(), 100u);
  // Cut in half: inside the graph (the weights' raw_data), so protobuf fails.
  const std::string half = write_bytes("half.onnx", bytes.substr(0, bytes.size() / 2));
  expect_refused(half, XSEP_STATUS_INVALID_ARGUMENT, {"half\\.onnx", "not an ONNX model|truncated|pars"});
  // Any other cut: malformed too, whether protobuf or the checker notices.
  for (size_t cut : {size_t{1}, size_t{2}, size_t{7}, bytes.size() / 4, bytes.size() * 3 / 4, bytes.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(bytes.size()) + " bytes");
    expect_refused(write_bytes("cut.onnx", bytes.substr(0, cut)), XSEP_STATUS_INVALID_ARGUMENT, {"cut\\.onnx"});
  }
}

TEST_F(BadModel, NotOnnx) {
  std::mt19937 rng(20240607);
  std::string noise(4096, '\0');
  for (char& ch : noise) ch = static_cast<char>(rng() & 0xff);
  expect_refused(write_bytes("noise.onnx", noise), XSEP_STATUS_INVALID_ARGUMENT, {"noise\\.onnx", "not an ONNX model"});
  // Text: a model in protobuf's text format is not the binary format.
  expect_refused(write_bytes("model.prototxt", "ir_version: 7\nopset_import { version: 13 }\ngraph { name: \"g\" }\n"),
                 XSEP_STATUS_INVALID_ARGUMENT, {"model\\.prototxt", "not an ONNX model|checker"});
  expect_refused(write_bytes("readme.txt", "This file is not an ONNX model.\n"), XSEP_STATUS_INVALID_ARGUMENT,
                 {"readme\\.txt", "not an ONNX model|checker"});
  // A valid protobuf of another type (a TensorProto, as in test_data_set_*/input_0.pb).
  onnx::TensorProto t;
  t.set_name("input_0");
  t.set_data_type(kFloat);
  t.add_dims(2);
  t.add_float_data(1.f);
  t.add_float_data(2.f);
  expect_refused(write_bytes("tensor.pb", t.SerializeAsString()), XSEP_STATUS_INVALID_ARGUMENT,
                 {"tensor\\.pb", "not an ONNX model|checker"});
}

// ---- Malformed graphs ---------------------------------------------------------------------

TEST_F(BadModel, MissingInitializer) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  auto* conv = add_node(m, "Conv", "conv_a", {"x", "w_undefined"}, {"y"});
  attr_ints(conv, "kernel_shape", {3, 3});
  add_output(m, "y", {1, 4, 6, 6});
  expect_refused(write("missing_init.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"w_undefined", "conv_a"});
}

TEST_F(BadModel, InitializerDataSizeMismatch) {
  onnx::ModelProto m = conv_relu_model();
  // conv.weight declares [4,3,3,3] (108 floats) but holds 100.
  auto* w = m.mutable_graph()->mutable_initializer(0);
  ASSERT_EQ(w->name(), "conv.weight");
  w->set_raw_data(w->raw_data().substr(0, 100 * sizeof(float)));
  expect_refused(write("short_weights.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"conv\\.weight"});
}

TEST_F(BadModel, ConvChannelMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  add_initializer(m, "w5", {4, 5, 3, 3}, values(4 * 5 * 9, 3));  // 5 input channels, x has 3
  auto* conv = add_node(m, "Conv", "conv_bad", {"x", "w5"}, {"y"});
  attr_ints(conv, "kernel_shape", {3, 3});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("conv_channels.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"conv_bad", "channel"});
}

TEST_F(BadModel, ConvChannelMismatchGrouped) {
  // group = 3 with 3 input channels needs weights [Co, 1, kh, kw]; [6, 3, 3, 3] is wrong.
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  add_initializer(m, "wg", {6, 3, 3, 3}, values(6 * 3 * 9, 4));
  auto* conv = add_node(m, "Conv", "conv_grouped", {"x", "wg"}, {"y"});
  attr_ints(conv, "kernel_shape", {3, 3});
  attr_int(conv, "group", 3);
  add_output_unshaped(m, "y", 4);
  expect_refused(write("conv_group.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"conv_grouped", "channel|group"});
}

TEST_F(BadModel, AddShapeMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "a", {1, 3});
  add_input(m, "b", {1, 4});
  add_node(m, "Add", "add_bad", {"a", "b"}, {"y"});
  add_output_unshaped(m, "y", 2);
  expect_refused(write("add_shapes.onnx", m), XSEP_STATUS_INVALID_ARGUMENT,
                 {"add_bad|Add", "broadcast|incompatible|dimension"});
}

TEST_F(BadModel, ConvBiasLengthMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  add_initializer(m, "w", {4, 3, 3, 3}, values(4 * 3 * 9, 3));
  add_initializer(m, "b6", {6}, values(6, 4));  // 4 filters
  auto* conv = add_node(m, "Conv", "conv_bias", {"x", "w", "b6"}, {"y"});
  attr_ints(conv, "kernel_shape", {3, 3});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("conv_bias.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"conv_bias", "b6|bias"});
}

TEST_F(BadModel, ConvKernelShapeMismatch) {
  // kernel_shape says 5x5, the weights are 3x3.
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  add_initializer(m, "w", {4, 3, 3, 3}, values(4 * 3 * 9, 3));
  auto* conv = add_node(m, "Conv", "conv_kshape", {"x", "w"}, {"y"});
  attr_ints(conv, "kernel_shape", {5, 5});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("conv_kshape.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"conv_kshape", "kernel"});
}

TEST_F(BadModel, BatchNormParameterLengthMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 2, 4, 4});
  add_initializer(m, "scale", {2}, {1.f, 1.f});
  add_initializer(m, "b", {2}, {0.f, 0.f});
  add_initializer(m, "mean", {5}, values(5, 7));  // 2 channels
  add_initializer(m, "var", {2}, {1.f, 1.f});
  add_node(m, "BatchNormalization", "bn_len", {"x", "scale", "b", "mean", "var"}, {"y"});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("bn_len.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"bn_len", "mean"});

  // Shorter than the channels: reading it per channel would overrun (in a
  // child process first: under ASan that aborts).
  onnx::ModelProto s = new_model();
  add_input(s, "x", {1, 4, 4, 4});
  add_initializer(s, "scale", {4}, {1.f, 1.f, 1.f, 1.f});
  add_initializer(s, "b", {4}, {0.f, 0.f, 0.f, 0.f});
  add_initializer(s, "mean_short", {1}, {0.5f});
  add_initializer(s, "var", {4}, {1.f, 1.f, 1.f, 1.f});
  add_node(s, "BatchNormalization", "bn_short", {"x", "scale", "b", "mean_short", "var"}, {"y"});
  add_output_unshaped(s, "y", 4);
  expect_refused_no_crash(write("bn_short.onnx", s), {XSEP_STATUS_INVALID_ARGUMENT}, {"bn_short", "mean_short"});
}

TEST_F(BadModel, GemmInnerDimensionMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "a", {2, 3});
  add_initializer(m, "bw", {4, 5}, values(20, 8));
  add_node(m, "Gemm", "gemm_k", {"a", "bw"}, {"y"});
  add_output_unshaped(m, "y", 2);
  expect_refused(write("gemm_k.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"gemm_k|Gemm"});
}

TEST_F(BadModel, MatMulInnerDimensionMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "a", {2, 3});
  add_input(m, "b", {4, 5});
  add_node(m, "MatMul", "matmul_k", {"a", "b"}, {"y"});
  add_output_unshaped(m, "y", 2);
  expect_refused(write("matmul_k.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"matmul_k|MatMul"});
}

TEST_F(BadModel, ReshapeElementCountMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 12});
  auto* shape = m.mutable_graph()->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(5);
  shape->add_int64_data(5);
  add_node(m, "Reshape", "reshape_n", {"x", "shape"}, {"y"});
  add_output_unshaped(m, "y", 2);
  expect_refused(write("reshape_n.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"reshape_n|Reshape"});
}

TEST_F(BadModel, ConcatShapeMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "a", {1, 2, 4, 4});
  add_input(m, "b", {1, 3, 5, 4});
  auto* cat = add_node(m, "Concat", "concat_hw", {"a", "b"}, {"y"});
  attr_int(cat, "axis", 1);
  add_output_unshaped(m, "y", 4);
  expect_refused(write("concat_hw.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"concat_hw|Concat"});
}

TEST_F(BadModel, SplitSizesMismatch) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 6});
  auto* split = m.mutable_graph()->add_initializer();
  split->set_name("split");
  split->set_data_type(onnx::TensorProto::INT64);
  split->add_dims(2);
  split->add_int64_data(2);
  split->add_int64_data(5);  // 7 != 6
  auto* n = add_node(m, "Split", "split_n", {"x", "split"}, {"y0", "y1"});
  attr_int(n, "axis", 1);
  add_output_unshaped(m, "y0", 2);
  add_output_unshaped(m, "y1", 2);
  expect_refused(write("split_n.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"split_n|Split"});
}

TEST_F(BadModel, FlattenAxisOutOfRange) {
  onnx::ModelProto f = new_model();
  add_input(f, "x", {2, 3});
  auto* fl = add_node(f, "Flatten", "flatten_axis", {"x"}, {"y"});
  attr_int(fl, "axis", 5);
  add_output_unshaped(f, "y", 2);
  expect_refused(write("flatten_axis.onnx", f), XSEP_STATUS_INVALID_ARGUMENT, {"flatten_axis|Flatten", "axis"});
}

// Conv attributes out of their ONNX range. Some crash ONNX 1.12's own shape
// inference, so each load runs in a child process first (a test per case: the
// threadsafe death test style re-runs the test body up to the death test).
struct BadConvAttr {
  const char* name;
  const char* attr;
  std::vector<int64_t> value;
  const char* pattern;
};
void PrintTo(const BadConvAttr& b, std::ostream* os) { *os << b.name; }

class BadModelConvAttribute : public BadModel, public testing::WithParamInterface<BadConvAttr> {};

TEST_P(BadModelConvAttribute, Refused) {
  const BadConvAttr& b = GetParam();
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  add_initializer(m, "w", {4, 3, 3, 3}, values(4 * 3 * 9, 3));
  auto* c = add_node(m, "Conv", b.name, {"x", "w"}, {"y"});
  if (std::string(b.attr) == "group") attr_int(c, b.attr, b.value[0]);
  else attr_ints(c, b.attr, b.value);
  add_output_unshaped(m, "y", 4);
  expect_refused_no_crash(write(std::string(b.name) + ".onnx", m), {XSEP_STATUS_INVALID_ARGUMENT},
                          {b.name, b.pattern});
}

INSTANTIATE_TEST_SUITE_P(, BadModelConvAttribute,
                         testing::Values(BadConvAttr{"conv_stride0", "strides", {0, 1}, "stride"},
                                         BadConvAttr{"conv_stride_neg", "strides", {-1, 1}, "stride"},
                                         BadConvAttr{"conv_stride_len", "strides", {1}, "stride"},
                                         BadConvAttr{"conv_dilation0", "dilations", {1, 0}, "dilation"},
                                         BadConvAttr{"conv_pads_neg", "pads", {-1, 0, 0, 0}, "pad"},
                                         BadConvAttr{"conv_pads_len", "pads", {1, 1}, "pad"},
                                         BadConvAttr{"conv_group0", "group", {0}, "group"},
                                         BadConvAttr{"conv_group2", "group", {2}, "group|channel"},
                                         BadConvAttr{"conv_kernel0", "kernel_shape", {0, 3}, "kernel"}),
                         [](const testing::TestParamInfo<BadConvAttr>& info) { return std::string(info.param.name); });

// An operator the runner does not provide, with malformed attributes that
// crash ONNX 1.12's shape inference: refused either way, without a crash.
TEST_F(BadModel, UnsupportedOperatorWithBadAttributes) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 3, 8, 8});
  auto* pool = add_node(m, "MaxPool", "pool_s0", {"x"}, {"y"});
  attr_ints(pool, "kernel_shape", {2, 2});
  attr_ints(pool, "strides", {0, 0});
  add_output_unshaped(m, "y", 4);
  expect_refused_no_crash(write("maxpool_s0.onnx", m), {XSEP_STATUS_UNSUPPORTED, XSEP_STATUS_INVALID_ARGUMENT},
                          {"pool_s0"});
}

TEST_F(BadModel, Cycle) {
  // t1 = Add(x, t2); t2 = Relu(t1): each node feeds the other.
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 4});
  add_node(m, "Add", "add_loop", {"x", "t2"}, {"t1"});
  add_node(m, "Relu", "relu_loop", {"t1"}, {"t2"});
  add_output(m, "t2", {1, 4});
  expect_refused(write("cycle.onnx", m), XSEP_STATUS_INVALID_ARGUMENT,
                 {"'t2'", "cycle|topologically sorted|not output of any previous|not .*produced"});
  // A node reading its own output.
  onnx::ModelProto self = new_model();
  add_input(self, "x", {1, 4});
  add_node(self, "Add", "add_self", {"x", "s"}, {"s"});
  add_output(self, "s", {1, 4});
  expect_refused(write("self_loop.onnx", self), XSEP_STATUS_INVALID_ARGUMENT,
                 {"'s'", "cycle|topologically sorted|not output of any previous|not .*produced"});
}

TEST_F(BadModel, OutputNeverProduced) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 4});
  add_node(m, "Relu", "relu", {"x"}, {"y"});
  add_output(m, "y", {1, 4});
  add_output(m, "ghost", {1, 4});
  expect_refused(write("ghost_output.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"ghost"});
}

TEST_F(BadModel, FixedBatchOverride) {
  // The model fixes batch 1; asking for batch 2 cannot apply.
  expect_refused(write("fixed_batch.onnx", conv_relu_model()), XSEP_STATUS_INVALID_ARGUMENT, {"'x'", "batch"},
                 /*batch=*/2);
}

// ONNX forbids pads together with auto_pad; ONNX 1.12's shape inference then
// sized the output from pads (2x2) while the backends padded SAME (4x4): the
// cuda backend wrote past the output buffer.
TEST_F(BadModel, ConvPadsWithAutoPad) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 16, 4, 4});
  add_initializer(m, "w", {16, 1, 3, 3}, values(16 * 9, 4));
  auto* c = add_node(m, "Conv", "dw_same_pads", {"x", "w"}, {"y"});
  attr_int(c, "group", 16);
  attr_string(c, "auto_pad", "SAME_UPPER");
  attr_ints(c, "pads", {0, 0, 0, 0});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("same_pads.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"dw_same_pads", "pads", "auto_pad"});
}

// Conv attributes beyond 2^30 (they were narrowed to int, or overflowed the
// reference's int64 arithmetic), and a padded extent beyond 2^31-1 whose
// output (stride 2^30) is small.
TEST_F(BadModel, ConvAttributesTooLarge) {
  struct Case {
    const char* name;
    const char* attr;
    std::vector<int64_t> value;
    std::vector<int64_t> x;
  };
  const int64_t big = int64_t{1} << 30;
  const Case cases[] = {{"conv_pads_2e32", "pads", {int64_t{1} << 32, 0, 0, 0}, {1, 3, 8, 8}},
                        {"conv_pads_max", "pads", {0, INT64_MAX, 0, 0}, {1, 3, 8, 8}},
                        {"conv_stride_2e32", "strides", {(int64_t{1} << 32) + 1, 1}, {1, 3, 8, 8}},
                        {"conv_dilation_2e62", "dilations", {int64_t{1} << 62, 1}, {1, 3, 8, 8}}};
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    onnx::ModelProto m = new_model();
    add_input(m, "x", k.x);
    add_initializer(m, "w", {4, 3, 3, 3}, values(4 * 3 * 9, 3));
    attr_ints(add_node(m, "Conv", k.name, {"x", "w"}, {"y"}), k.attr, k.value);
    add_output_unshaped(m, "y", 4);
    expect_refused(write(std::string(k.name) + ".onnx", m), XSEP_STATUS_UNSUPPORTED, {k.name, k.attr, "2\\^30"});
  }
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 1, 1, big});
  add_initializer(m, "w", {1, 1, 1, 1}, values(1, 3));
  auto* c = add_node(m, "Conv", "conv_wide_pads", {"x", "w"}, {"y"});
  attr_ints(c, "pads", {0, big, 0, big});
  attr_ints(c, "strides", {1, big});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("conv_wide_pads.onnx", m), XSEP_STATUS_UNSUPPORTED, {"conv_wide_pads", "padded input width"});
}

// Graph input sizes are bounded before shape inference, whose SAME padding
// (ONNX 1.12) counted 2^61 stride steps on this input.
TEST_F(BadModel, HugeInputBeforeShapeInference) {
  onnx::ModelProto m = new_model();
  add_input(m, "x_tall", {1, 1, int64_t{1} << 62, 1});
  add_initializer(m, "w", {1, 1, 3, 1}, values(3, 5));
  auto* c = add_node(m, "Conv", "conv_same", {"x_tall", "w"}, {"y"});
  attr_string(c, "auto_pad", "SAME_UPPER");
  attr_ints(c, "strides", {2, 1});
  add_output_unshaped(m, "y", 4);
  expect_refused(write("same_tall.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'x_tall'", "element"});
}

// The default domain imported as "" and as "ai.onnx" at different opsets: which
// Clip (attributes or inputs) applies is ambiguous.
TEST_F(BadModel, DefaultDomainImportedTwice) {
  onnx::ModelProto m = conv_relu_model();
  auto* op = m.add_opset_import();
  op->set_domain("ai.onnx");
  op->set_version(7);
  expect_refused(write("two_opsets.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"opset", "13", "7"});
}

// A Split part left unnamed: the later parts' offsets depended on its size,
// which the cuda backend skipped (and the reference backend crashed on).
TEST_F(BadModel, SplitOutputOmitted) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 12});
  auto* s = add_node(m, "Split", "split_gap", {"x"}, {"", "b", "c"});
  attr_int(s, "axis", 1);
  add_output_unshaped(m, "b", 2);
  expect_refused(write("split_omitted.onnx", m), XSEP_STATUS_UNSUPPORTED, {"split_gap", "omitted"});
}

// A constant as the data input of an op that reads activation memory: the
// reference backend computes x + Relu(c) (and x + Dropout(c)); the cuda backend
// refuses it, where it used to read memory nothing had written. Identity of a
// constant is folded at load (PyTorch's exporter writes such nodes), so both
// backends compute x + c.
TEST_F(BadModel, ConstantAsDataInput) {
  const std::vector<float> c = {1.5f, -2.f, 0.25f, 3.f};
  for (const char* op : {"Relu", "Dropout", "Identity"}) {
    SCOPED_TRACE(op);
    const bool folded = std::string(op) == "Identity";
    onnx::ModelProto m = new_model();
    add_input(m, "x", {1, 4});
    add_initializer(m, "c", {1, 4}, c);
    add_node(m, op, "on_constant", {"c"}, {"t"});
    add_node(m, "Add", "add", {"x", "t"}, {"y"});
    add_output(m, "y", {1, 4});
    const std::string path = write(std::string(op) + "_constant.onnx", m);
    const std::vector<float> x = values(4, 6);
    for (xsep_backend b : kBackends) {
      SCOPED_TRACE(backend_name(b));
      if (b == XSEP_BACKEND_CUDA && !folded) {
        const xsep_graph_options o = options(b);
        xsep_graph* g = nullptr;
        EXPECT_EQ(xsep_graph_load(path.c_str(), &o, &g), XSEP_STATUS_UNSUPPORTED);
        EXPECT_EQ(g, nullptr);
        EXPECT_NE(std::string(xsep_last_error()).find("'c' is a constant"), std::string::npos) << xsep_last_error();
        xsep_graph_destroy(g);
        continue;
      }
      std::vector<float> y(4, -999.f);
      if (!run_one(path, b, x, &y)) continue;
      for (int i = 0; i < 4; ++i) {
        const float t = std::string(op) == "Relu" ? std::max(c[i], 0.f) : c[i];
        EXPECT_FLOAT_EQ(y[i], x[i] + t) << i;
      }
    }
  }
}

// MatMul reads row-major operands; on the cuda backend in NHWC a conv output
// is stored NHWC: refused there (it computed on permuted data), run in NCHW.
TEST_F(BadModel, MatMulOnNhwcValue) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 2, 3, 4});
  add_initializer(m, "w", {2, 2, 1, 1}, values(4, 7));
  add_initializer(m, "b", {4, 3}, values(12, 8));
  add_node(m, "Conv", "pointwise", {"x", "w"}, {"t"});
  add_node(m, "MatMul", "matmul", {"t", "b"}, {"y"});
  add_output(m, "y", {1, 2, 3, 3});
  const std::string path = write("matmul_nhwc.onnx", m);
  xsep_graph_options o = options(XSEP_BACKEND_CUDA);
  o.layout = XSEP_LAYOUT_NHWC;
  xsep_graph* g = nullptr;
  EXPECT_EQ(xsep_graph_load(path.c_str(), &o, &g), XSEP_STATUS_UNSUPPORTED);
  EXPECT_NE(std::string(xsep_last_error()).find("NHWC"), std::string::npos) << xsep_last_error();
  xsep_graph_destroy(g);
  g = nullptr;
  o.layout = XSEP_LAYOUT_NCHW;  // lowered before the device is needed: NO_DEVICE on a CUDA build without GPU
  const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
  EXPECT_TRUE(s == XSEP_STATUS_SUCCESS || s == XSEP_STATUS_NO_DEVICE) << status_name(s) << ": " << xsep_last_error();
  xsep_graph_destroy(g);
}

// ---- Well-formed, but not provided --------------------------------------------------------

// The shape queries report at most 8 dims, so a rank-9 graph input or output
// is refused at load (it used to load, then fail the query).
TEST_F(BadModel, RankAboveEight) {
  onnx::ModelProto m = new_model();
  add_input(m, "x9", {1, 1, 1, 1, 1, 1, 1, 2, 2});
  add_node(m, "Relu", "relu", {"x9"}, {"y"});
  add_output(m, "y", {1, 1, 1, 1, 1, 1, 1, 2, 2});
  expect_refused(write("rank9.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'x9'", "rank 9"});
}

TEST_F(BadModel, UnsupportedOperator) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 10});
  add_node(m, "Softmax", "probs", {"x"}, {"y"});
  add_output(m, "y", {1, 10});
  expect_refused(write("softmax.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'probs'", "Softmax"});

  // An operator of a custom domain.
  onnx::ModelProto c = new_model();
  auto* op = c.add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  add_input(c, "x", {1, 10});
  add_node(c, "FancyOp", "custom1", {"x"}, {"y"}, "com.example");
  add_output(c, "y", {1, 10});
  expect_refused(write("custom_op.onnx", c), XSEP_STATUS_UNSUPPORTED, {"'custom1'", "FancyOp", "com\\.example"});
}

TEST_F(BadModel, UnsupportedAttributeValue) {
  // BatchNormalization in training mode: a valid ONNX model, inference only here.
  onnx::ModelProto m = new_model(15);
  m.set_ir_version(8);
  add_input(m, "x", {1, 2, 4, 4});
  for (const char* p : {"scale", "b", "mean", "var"}) add_initializer(m, p, {2}, {1.f, 1.f});
  auto* bn = add_node(m, "BatchNormalization", "bn_train", {"x", "scale", "b", "mean", "var"},
                     {"y", "running_mean", "running_var"});
  attr_int(bn, "training_mode", 1);
  add_output(m, "y", {1, 2, 4, 4});
  expect_refused(write("bn_training.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'bn_train'", "training_mode"});
}

TEST_F(BadModel, NonFloatInput) {
  onnx::ModelProto m = new_model(14);  // Relu-14 takes int32
  add_input(m, "ids", {1, 4}, onnx::TensorProto::INT32);
  add_node(m, "Relu", "relu_i32", {"ids"}, {"y"});
  add_output(m, "y", {1, 4}, onnx::TensorProto::INT32);
  expect_refused(write("int32_input.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'ids'", "INT32"});

  // int64 data into a float operator.
  onnx::ModelProto l = new_model(14);
  add_input(l, "ids64", {1, 4}, onnx::TensorProto::INT64);
  add_node(l, "Relu", "relu_i64", {"ids64"}, {"y"});
  add_output(l, "y", {1, 4}, onnx::TensorProto::INT64);
  expect_refused(write("int64_input.onnx", l), XSEP_STATUS_UNSUPPORTED, {"relu_i64|'ids64'", "float|INT64"});

  // An int64 graph input that nothing reads: xsep_graph_run feeds float32
  // only, so the model cannot be run through the C API.
  onnx::ModelProto u = new_model();
  add_input(u, "x", {1, 4});
  add_input(u, "unused_ids", {1, 4}, onnx::TensorProto::INT64);
  add_node(u, "Relu", "relu", {"x"}, {"y"});
  add_output(u, "y", {1, 4});
  expect_refused(write("int64_unused_input.onnx", u), XSEP_STATUS_UNSUPPORTED, {"'unused_ids'"});

  // An int64 graph output that no node's check sees: an initializer, and an
  // Identity of one (folded at load). Refused at load, not at the first run.
  for (bool through_identity : {false, true}) {
    SCOPED_TRACE(through_identity ? "Identity of an initializer" : "an initializer");
    onnx::ModelProto o = new_model();
    add_input(o, "x", {1, 4});
    add_node(o, "Relu", "relu", {"x"}, {"y"});
    auto* t = o.mutable_graph()->add_initializer();
    t->set_name("k64");
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(2);
    t->add_int64_data(3);
    t->add_int64_data(4);
    if (through_identity) add_node(o, "Identity", "id", {"k64"}, {"k64_out"});
    add_output(o, "y", {1, 4});
    auto* out = o.mutable_graph()->add_output();
    out->set_name(through_identity ? "k64_out" : "k64");
    auto* tt = out->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::INT64);
    tt->mutable_shape()->add_dim()->set_dim_value(2);
    expect_refused(write(through_identity ? "int64_output_identity.onnx" : "int64_output.onnx", o),
                   XSEP_STATUS_UNSUPPORTED, {"graph output 'k64", "float32"});
  }
}

TEST_F(BadModel, HugeDimension) {
  // 3e10 elements: a valid shape, beyond the 2^31-1 elements per tensor supported.
  onnx::ModelProto m = new_model();
  add_input(m, "x_huge", {1, 3, 100000, 100000});
  add_node(m, "Relu", "relu", {"x_huge"}, {"y"});
  add_output(m, "y", {1, 3, 100000, 100000});
  expect_refused(write("huge.onnx", m), XSEP_STATUS_UNSUPPORTED, {"'x_huge'", "30000000000|element"});

  // 3 * 2^40 * 2^40 elements: the product overflows int64, a malformed shape.
  const int64_t big = int64_t{1} << 40;
  onnx::ModelProto o = new_model();
  add_input(o, "x_over", {1, 3, big, big});
  add_node(o, "Relu", "relu", {"x_over"}, {"y"});
  add_output(o, "y", {1, 3, big, big});
  expect_refused(write("overflow.onnx", o), XSEP_STATUS_INVALID_ARGUMENT, {"'x_over'", "overflow"});
}

// A valid depthwise conv with W above the C API's side limit (2^30; the graph's
// own limits allow up to 2^31-1 elements) must be lowered to the general conv
// kernel at load: given to the C API's 1xK operator, as it was, it loaded and
// then failed with UNSUPPORTED at the first run. The CUDA backend's activation
// arena is ~8.6 GB of address space, allocated but not touched by the load.
TEST_F(BadModel, DepthwiseWiderThanApiLimitUsesGeneralConv) {
  const int64_t wide = (int64_t{1} << 30) + 1;
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 1, 1, wide});
  add_initializer(m, "w", {1, 1, 1, 3}, values(3, 9));
  attr_ints(add_node(m, "Conv", "dw_wide", {"x", "w"}, {"y"}), "pads", {0, 1, 0, 1});
  add_output(m, "y", {1, 1, 1, wide});
  const std::string path = write("dw_wide.onnx", m);
  const xsep_graph_options o = options(XSEP_BACKEND_CUDA);
  xsep_graph* g = nullptr;
  const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
  if (s == XSEP_STATUS_NO_DEVICE || s == XSEP_STATUS_OUT_OF_MEMORY)
    GTEST_SKIP() << "the CUDA backend cannot load it here: " << status_name(s) << ": " << xsep_last_error();
  ASSERT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
  const std::string summary = xsep_graph_summary(g);
  xsep_graph_destroy(g);
  EXPECT_NE(summary.find("dw_wide: conv 1x3"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("depthwise"), std::string::npos) << summary;
}

TEST_F(BadModel, TooNewVersions) {
  onnx::ModelProto m = conv_relu_model();
  m.mutable_opset_import(0)->set_version(1000);
  expect_refused(write("opset1000.onnx", m), XSEP_STATUS_UNSUPPORTED, {"opset", "1000"});

  onnx::ModelProto a = conv_relu_model();
  a.mutable_opset_import(0)->set_domain("ai.onnx");
  a.mutable_opset_import(0)->set_version(1000);
  expect_refused(write("ai_onnx_opset1000.onnx", a), XSEP_STATUS_UNSUPPORTED, {"opset", "1000"});

  onnx::ModelProto ir = conv_relu_model();
  ir.set_ir_version(100);
  expect_refused(write("ir100.onnx", ir), XSEP_STATUS_UNSUPPORTED, {"IR version", "100"});
}

// Before opset 7, BatchNormalization and Dropout default to training
// (is_test = 0) and Add, Mul and Gemm do not broadcast: not what the runner
// implements, so those operators are refused at those opsets (others, such
// as GlobalAveragePool-1, run: the ONNX conformance cases use them).
TEST_F(BadModel, TooOldOpset) {
  onnx::ModelProto m = new_model(6);
  m.set_ir_version(3);
  add_input(m, "x", {2, 3});
  add_input(m, "b", {3});
  add_node(m, "Add", "add6", {"x", "b"}, {"y"});
  add_output(m, "y", {2, 3});
  expect_refused(write("opset6.onnx", m), XSEP_STATUS_UNSUPPORTED, {"add6", "opset-6 form of Add", "7"});

  // BatchNormalization-6 in its inference form (is_test = 1): refused too,
  // rather than taking is_test's training default when it is absent.
  onnx::ModelProto bn6 = new_model(6);
  bn6.set_ir_version(3);  // initializers are graph inputs too
  add_input(bn6, "x", {1, 2, 4, 4});
  for (const char* p : {"scale", "b", "mean", "var"}) {
    add_initializer(bn6, p, {2}, {1.f, 1.f});
    add_input(bn6, p, {2});
  }
  auto* bn = add_node(bn6, "BatchNormalization", "bn_old", {"x", "scale", "b", "mean", "var"}, {"y"});
  attr_int(bn, "is_test", 1);
  add_output(bn6, "y", {1, 2, 4, 4});
  expect_refused(write("bn_is_test.onnx", bn6), XSEP_STATUS_UNSUPPORTED, {"bn_old", "opset-6 form", "7"});
}

// A negative axis is ONNX from opset 11 on; at opset 10 the model is invalid,
// refused at load (the reference backend refused it only when run, the cuda
// backend ran it).
TEST_F(BadModel, NegativeAxisBeforeOpset11) {
  onnx::ModelProto m = new_model(10);
  add_input(m, "x", {2, 3});
  add_input(m, "z", {2, 1});
  attr_int(add_node(m, "Concat", "concat_neg", {"x", "z"}, {"y"}), "axis", -1);
  add_output(m, "y", {2, 4});
  expect_refused(write("concat_neg_axis10.onnx", m), XSEP_STATUS_INVALID_ARGUMENT, {"concat_neg", "axis -1", "11"});
}

// Gemm with beta = 0 drops C, NaN included (ONNX's reference and onnxruntime,
// as BLAS does): both backends give alpha * A * B.
TEST_F(BadModel, GemmBetaZeroIgnoresC) {
  onnx::ModelProto m = new_model();
  add_input(m, "a", {2, 3});
  add_initializer(m, "b", {3, 4}, values(12, 9));
  add_initializer(m, "c", {2, 4}, std::vector<float>(8, std::nanf("")));
  auto* gemm = add_node(m, "Gemm", "gemm_beta0", {"a", "b", "c"}, {"y"});
  attr_float(gemm, "beta", 0.f);
  attr_float(gemm, "alpha", 0.5f);
  add_output(m, "y", {2, 4});
  const std::string path = write("gemm_beta0.onnx", m);
  const std::vector<float> a = values(6, 10), b = values(12, 9);
  for (xsep_backend backend : kBackends) {
    SCOPED_TRACE(backend_name(backend));
    std::vector<float> y(8, -999.f);
    if (!run_one(path, backend, a, &y)) continue;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        double acc = 0;
        for (int k = 0; k < 3; ++k) acc += double(a[i * 3 + k]) * b[k * 4 + j];
        EXPECT_NEAR(y[i * 4 + j], 0.5 * acc, 1e-5) << i << "," << j;
      }
  }
}

// A standalone BatchNormalization (after a Relu, so not folded into a conv)
// whose bias cancels most of x * scale: in float16 the cuda backend rounds only
// y (x * scale + bias in one pass), so y meets SPEC 5's float16 bound; rounding
// x * scale (~1000) to float16 first was off by up to 0.25 on |y| <= 3.
TEST_F(BadModel, StandaloneBatchNormFloat16) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 4, 2, 2});
  add_initializer(m, "gamma", {4}, {1000.f, 1000.f, 1000.f, 1000.f});
  add_initializer(m, "beta", {4}, {0.f, 0.f, 0.f, 0.f});
  add_initializer(m, "mean", {4}, {1.f, 1.f, 1.f, 1.f});
  add_initializer(m, "var", {4}, {1.f, 1.f, 1.f, 1.f});
  add_node(m, "Relu", "relu", {"x"}, {"t"});
  add_node(m, "BatchNormalization", "bn", {"t", "gamma", "beta", "mean", "var"}, {"y"});
  add_output(m, "y", {1, 4, 2, 2});
  const std::string path = write("bn_f16.onnx", m);
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = 1.f + float((i * 7) % 4) / 1024.f;  // 1 + k 2^-10: exact in float16
  xsep_graph_options o = options(XSEP_BACKEND_CUDA);
  o.dtype = XSEP_DTYPE_F16;
  xsep_graph* g = nullptr;
  const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
  if (s == XSEP_STATUS_NO_DEVICE) GTEST_SKIP() << "no CUDA device: " << xsep_last_error();
  ASSERT_EQ(s, XSEP_STATUS_SUCCESS) << xsep_last_error();
  std::vector<float> y(16, -999.f);
  const float* ins[] = {x.data()};
  float* outs[] = {y.data()};
  ASSERT_EQ(xsep_graph_run(g, ins, outs), XSEP_STATUS_SUCCESS) << xsep_last_error();
  xsep_graph_destroy(g);
  double max_ref = 0, max_err = 0;
  for (int i = 0; i < 16; ++i) {
    const double ref = (double(x[i]) - 1.0) / std::sqrt(1.0 + 1e-5) * 1000.0;
    max_ref = std::max(max_ref, std::abs(ref));
    max_err = std::max(max_err, std::abs(y[i] - ref));
  }
  EXPECT_LE(max_err, 4e-3 * max_ref) << "max |y - ref| " << max_err << ", max |ref| " << max_ref;
}

// An SE-shaped chain whose second 1x1 conv is padded: valid ONNX with a 3x3
// output (bias and activation on the border). Not an SE block: the cuda
// backend used to fuse it into se_fc, which wrote only the centre. Both
// backends must agree on every element.
TEST_F(BadModel, SePaddedFc) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 8, 4, 4});
  add_initializer(m, "w1", {4, 8, 1, 1}, values(32, 11));
  add_initializer(m, "w2", {8, 4, 1, 1}, values(32, 12));
  add_initializer(m, "b2", {8}, values(8, 13));
  add_node(m, "GlobalAveragePool", "gap", {"x"}, {"p"});
  add_node(m, "Conv", "fc1", {"p", "w1"}, {"h"});
  add_node(m, "Relu", "relu", {"h"}, {"r"});
  attr_ints(add_node(m, "Conv", "fc2_padded", {"r", "w2", "b2"}, {"s"}), "pads", {1, 1, 1, 1});
  add_node(m, "HardSigmoid", "gate", {"s"}, {"y"});
  add_output(m, "y", {1, 8, 3, 3});
  const std::string path = write("se_padded.onnx", m);
  const std::vector<float> x = values(128, 14);
  std::vector<std::vector<float>> got;
  for (xsep_backend backend : kBackends) {
    const xsep_graph_options o = options(backend);
    xsep_graph* g = nullptr;
    const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
    if (s == XSEP_STATUS_NO_DEVICE) GTEST_SKIP() << "no CUDA device: " << xsep_last_error();
    ASSERT_EQ(s, XSEP_STATUS_SUCCESS) << backend_name(backend) << ": " << xsep_last_error();
    got.emplace_back(72, NAN);
    const float* ins[] = {x.data()};
    float* outs[] = {got.back().data()};
    EXPECT_EQ(xsep_graph_run(g, ins, outs), XSEP_STATUS_SUCCESS) << xsep_last_error();
    xsep_graph_destroy(g);
  }
  for (int i = 0; i < 72; ++i) EXPECT_NEAR(got[1][i], got[0][i], 1e-5) << "element " << i;
}

// ---- Bad calls ------------------------------------------------------------------------------

TEST_F(BadModel, InvalidOptions) {
  const std::string path = write("ok.onnx", conv_relu_model());
  struct Bad {
    int backend, dtype, layout;
    int64_t batch;
    xsep_status status;
    const char* pattern;
  };
  const Bad cases[] = {
      {7, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 0, XSEP_STATUS_INVALID_ARGUMENT, "backend"},
      {-1, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 0, XSEP_STATUS_INVALID_ARGUMENT, "backend"},
      {XSEP_BACKEND_CUDA, 9, XSEP_LAYOUT_NCHW, 0, XSEP_STATUS_INVALID_ARGUMENT, "dtype"},
      {XSEP_BACKEND_REFERENCE, 9, XSEP_LAYOUT_NCHW, 0, XSEP_STATUS_INVALID_ARGUMENT, "dtype"},
      {XSEP_BACKEND_CUDA, XSEP_DTYPE_F32, 9, 0, XSEP_STATUS_INVALID_ARGUMENT, "layout"},
      {XSEP_BACKEND_REFERENCE, XSEP_DTYPE_F32, -3, 0, XSEP_STATUS_INVALID_ARGUMENT, "layout"},
      {XSEP_BACKEND_CUDA, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, -1, XSEP_STATUS_INVALID_ARGUMENT, "batch"},
      {XSEP_BACKEND_REFERENCE, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, -1, XSEP_STATUS_INVALID_ARGUMENT, "batch"},
      // Valid values the reference backend does not provide.
      {XSEP_BACKEND_REFERENCE, XSEP_DTYPE_F16, XSEP_LAYOUT_NCHW, 0, XSEP_STATUS_UNSUPPORTED, "reference"},
      {XSEP_BACKEND_REFERENCE, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 0, XSEP_STATUS_UNSUPPORTED, "reference"},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE("backend " + std::to_string(b.backend) + " dtype " + std::to_string(b.dtype) + " layout " +
                 std::to_string(b.layout) + " batch " + std::to_string(b.batch));
    xsep_graph* g = reinterpret_cast<xsep_graph*>(uintptr_t{0x10});
    const xsep_status s = xsep_test_graph_load_raw(path.c_str(), b.backend, b.dtype, b.layout, b.batch, &g);
    const std::string err = xsep_last_error();
    EXPECT_EQ(status_name(s), status_name(b.status)) << err;
    EXPECT_EQ(g, nullptr);
    if (s == XSEP_STATUS_SUCCESS) xsep_graph_destroy(g);
    EXPECT_TRUE(std::regex_search(err, std::regex(b.pattern, std::regex::icase))) << err;
  }
}

// Loads `path` with `backend`, or returns NULL after a skip-worthy NO_DEVICE.
xsep_graph* load_ok(const std::string& path, xsep_backend backend, bool* no_device) {
  xsep_graph_options o;
  xsep_graph_default_options(&o);
  o.backend = backend;
  o.batch = 0;
  xsep_graph* g = nullptr;
  const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
  *no_device = s == XSEP_STATUS_NO_DEVICE;
  if (!*no_device) {
    EXPECT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
  }
  return s == XSEP_STATUS_SUCCESS ? g : nullptr;
}

TEST_F(BadModel, NullArguments) {
  const std::string path = write("ok.onnx", conv_relu_model());
  const xsep_graph_options ref = options(XSEP_BACKEND_REFERENCE);
  xsep_graph* g = reinterpret_cast<xsep_graph*>(uintptr_t{0x10});

  // xsep_graph_load
  EXPECT_EQ(status_name(xsep_graph_load(nullptr, &ref, &g)), "XSEP_STATUS_INVALID_ARGUMENT");
  EXPECT_EQ(g, nullptr);
  EXPECT_TRUE(std::strstr(xsep_last_error(), "onnx_path")) << xsep_last_error();
  EXPECT_EQ(status_name(xsep_graph_load(path.c_str(), &ref, nullptr)), "XSEP_STATUS_INVALID_ARGUMENT");
  EXPECT_TRUE(std::strstr(xsep_last_error(), "graph")) << xsep_last_error();
  EXPECT_EQ(status_name(xsep_graph_load(nullptr, nullptr, nullptr)), "XSEP_STATUS_INVALID_ARGUMENT");
  // options NULL: the defaults (CUDA backend, batch 1).
  g = reinterpret_cast<xsep_graph*>(uintptr_t{0x10});
  const xsep_status s = xsep_graph_load(path.c_str(), nullptr, &g);
  if (s == XSEP_STATUS_NO_DEVICE) {
    EXPECT_EQ(g, nullptr);
  } else {
    EXPECT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    xsep_graph_destroy(s == XSEP_STATUS_SUCCESS ? g : nullptr);
  }

  // The functions that take a graph, given NULL.
  xsep_graph_default_options(nullptr);
  xsep_graph_destroy(nullptr);
  EXPECT_EQ(xsep_graph_num_inputs(nullptr), 0);
  EXPECT_EQ(xsep_graph_num_outputs(nullptr), 0);
  ASSERT_NE(xsep_graph_summary(nullptr), nullptr);
  EXPECT_STREQ(xsep_graph_summary(nullptr), "");
  int32_t rank = -1;
  int64_t dims[8] = {};
  EXPECT_EQ(status_name(xsep_graph_input_shape(nullptr, 0, &rank, dims)), "XSEP_STATUS_INVALID_ARGUMENT");
  EXPECT_EQ(status_name(xsep_graph_output_shape(nullptr, 0, &rank, dims)), "XSEP_STATUS_INVALID_ARGUMENT");
  std::vector<float> x = values(kN * kC * kH * kW, 5), y(kN * kCo * kH * kW);
  const float* ins[1] = {x.data()};
  float* outs[1] = {y.data()};
  EXPECT_EQ(status_name(xsep_graph_run(nullptr, ins, outs)), "XSEP_STATUS_INVALID_ARGUMENT");
  double ms[4] = {};
  EXPECT_EQ(status_name(xsep_graph_time(nullptr, 1, ms)), "XSEP_STATUS_INVALID_ARGUMENT");

  // A loaded graph with bad other arguments, on each backend.
  for (xsep_backend backend : kBackends) {
    SCOPED_TRACE(std::string("backend ") + backend_name(backend));
    bool no_device = false;
    xsep_graph* graph = load_ok(path, backend, &no_device);
    if (no_device) {
      std::cout << "[   NOTE   ] " << backend_name(backend) << " backend: no device: " << xsep_last_error() << '\n';
      continue;
    }
    ASSERT_NE(graph, nullptr);
    EXPECT_EQ(xsep_graph_num_inputs(graph), 1);
    EXPECT_EQ(xsep_graph_num_outputs(graph), 1);
    for (int which = 0; which < 2; ++which) {
      auto shape = which ? xsep_graph_output_shape : xsep_graph_input_shape;
      SCOPED_TRACE(which ? "xsep_graph_output_shape" : "xsep_graph_input_shape");
      for (int32_t bad : {-1, 1, 8, INT32_MIN, INT32_MAX}) {
        EXPECT_EQ(status_name(shape(graph, bad, &rank, dims)), "XSEP_STATUS_INVALID_ARGUMENT") << "index " << bad;
        EXPECT_TRUE(std::strstr(xsep_last_error(), "index")) << xsep_last_error();
      }
      EXPECT_EQ(status_name(shape(graph, 0, nullptr, dims)), "XSEP_STATUS_INVALID_ARGUMENT");
      EXPECT_EQ(status_name(shape(graph, 0, &rank, nullptr)), "XSEP_STATUS_INVALID_ARGUMENT");
      ASSERT_EQ(status_name(shape(graph, 0, &rank, dims)), "XSEP_STATUS_SUCCESS") << xsep_last_error();
      ASSERT_EQ(rank, 4);
      EXPECT_EQ(std::vector<int64_t>(dims, dims + 4),
                (std::vector<int64_t>{kN, which ? kCo : kC, kH, kW}));
    }
    const float* null_in[1] = {nullptr};
    float* null_out[1] = {nullptr};
    std::fill(y.begin(), y.end(), 12345.f);
    EXPECT_EQ(status_name(xsep_graph_run(graph, nullptr, outs)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_EQ(status_name(xsep_graph_run(graph, ins, nullptr)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_EQ(status_name(xsep_graph_run(graph, null_in, outs)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_TRUE(std::strstr(xsep_last_error(), "inputs[0]")) << xsep_last_error();
    EXPECT_EQ(status_name(xsep_graph_run(graph, ins, null_out)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_TRUE(std::strstr(xsep_last_error(), "outputs[0]")) << xsep_last_error();
    EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v == 12345.f; }))
        << "a refused run wrote to the outputs";
    if (backend == XSEP_BACKEND_REFERENCE) {  // nothing to replay yet
      EXPECT_EQ(status_name(xsep_graph_time(graph, 1, ms)), "XSEP_STATUS_INVALID_ARGUMENT");
    }
    EXPECT_EQ(status_name(xsep_graph_time(graph, 0, ms)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_EQ(status_name(xsep_graph_time(graph, -5, ms)), "XSEP_STATUS_INVALID_ARGUMENT");
    EXPECT_EQ(status_name(xsep_graph_time(graph, 1, nullptr)), "XSEP_STATUS_INVALID_ARGUMENT");
    // Still usable after all that.
    EXPECT_EQ(status_name(xsep_graph_run(graph, ins, outs)), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    EXPECT_EQ(status_name(xsep_graph_time(graph, 4, ms)), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    EXPECT_NE(std::strlen(xsep_graph_summary(graph)), 0u);
    xsep_graph_destroy(graph);
  }
}

// ---- The positive control ---------------------------------------------------------------------

TEST_F(BadModel, ValidModelLoadsAndBackendsAgree) {
  const std::string path = write("conv_relu.onnx", conv_relu_model());
  const std::vector<float> x = values(kN * kC * kH * kW, 6);
  const std::vector<float> expected = conv_relu_expected(x);
  const float* ins[1] = {x.data()};

  struct Config {
    xsep_backend backend;
    xsep_dtype dtype;
    xsep_layout layout;
    double tol;
  };
  const Config configs[] = {{XSEP_BACKEND_REFERENCE, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 1e-5},
                            {XSEP_BACKEND_CUDA, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 1e-5},
                            {XSEP_BACKEND_CUDA, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 1e-5},
                            {XSEP_BACKEND_CUDA, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 2e-2}};
  std::vector<std::vector<float>> results;
  std::string no_device;
  for (const Config& c : configs) {
    SCOPED_TRACE(std::string(backend_name(c.backend)) + (c.dtype == XSEP_DTYPE_F16 ? " f16" : " f32") +
                 (c.layout == XSEP_LAYOUT_NHWC ? " nhwc" : " nchw"));
    xsep_graph_options o;
    xsep_graph_default_options(&o);
    o.backend = c.backend, o.dtype = c.dtype, o.layout = c.layout, o.batch = 0;
    xsep_graph* g = nullptr;
    const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
    if (s == XSEP_STATUS_NO_DEVICE && c.backend == XSEP_BACKEND_CUDA) {
      EXPECT_EQ(g, nullptr);
      no_device = xsep_last_error();
      continue;
    }
    ASSERT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    ASSERT_NE(g, nullptr);
    std::vector<float> y(expected.size(), NAN);
    float* outs[1] = {y.data()};
    ASSERT_EQ(status_name(xsep_graph_run(g, ins, outs)), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    std::vector<float> again(expected.size(), NAN);
    float* outs2[1] = {again.data()};
    ASSERT_EQ(status_name(xsep_graph_run(g, ins, outs2)), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    EXPECT_EQ(y, again) << "two runs on the same input differ";
    double max_diff = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double d = std::fabs(double{y[i]} - expected[i]);
      if (!(d <= c.tol * (1 + std::fabs(expected[i])))) ADD_FAILURE() << "y[" << i << "] = " << y[i] << ", expected " << expected[i];
      max_diff = std::max(max_diff, d);
    }
    if (HasFailure()) std::cout << xsep_graph_summary(g);
    xsep_graph_destroy(g);
    results.push_back(std::move(y));
  }
  // The backends agree with each other (f32 configurations: tightly).
  for (size_t r = 1; r < results.size() && r < 3; ++r)
    for (size_t i = 0; i < results[0].size(); ++i)
      ASSERT_NEAR(results[r][i], results[0][i], 1e-5 * (1 + std::fabs(results[0][i]))) << "config " << r << " [" << i << "]";
  if (!no_device.empty()) GTEST_SKIP() << "cuda backend: " << no_device;
}

}  // namespace
