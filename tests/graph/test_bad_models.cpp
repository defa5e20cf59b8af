// Bad models through the graph runner's C API (xsep/graph.h), with both
// backends: each case writes a model (built with ONNX's protobuf classes, or raw
// bytes) and checks what a user gets back from xsep_graph_load:
//   - the exact status: INVALID_ARGUMENT for a malformed file,
//     UNSUPPORTED for a well-formed model using something the runner does not
//     provide (an operator, attribute, type, size or opset);
//   - a non-empty one-line xsep_last_error() naming the problem (the node and
//     operator, the tensor, the number);
//   - *graph set to NULL; no crash and no leak (CI runs this under ASan/LSan).
// Bad calls are in test_bad_calls.cpp, models that must run correctly in
// test_lowered_models.cpp.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "graph/onnx_loader.h"  // one_line
#include "model_builder.h"
#include "model_file_test.h"

namespace {

using namespace xsep_test;

class BadModel : public ModelFileTest {};

// ---- Unreadable and malformed files ---------------------------------------------------

// xsep_last_error() is one line: every line break (and the blanks around it)
// becomes one space, the ends are trimmed, other control bytes are written as
// \xNN, other text is kept as it is.
TEST(BadModelMessage, OneLine) {
  using xsep::graph::one_line;
  EXPECT_EQ(one_line("checker: bad node\n\n==> Context: Bad node spec"), "checker: bad node ==> Context: Bad node spec");
  EXPECT_EQ(one_line("a\r\nb\rc\vd\fe"), "a b c d e");
  EXPECT_EQ(one_line("  keeps  inner  blanks\t"), "keeps  inner  blanks");
  EXPECT_EQ(one_line("\n\t \n"), "");
  EXPECT_EQ(one_line("trailing \n"), "trailing");
  const char controls[] = "node 'a\0b\x1b[2J\x7f' tab\there";  // a NUL inside: the length from sizeof
  EXPECT_EQ(one_line(std::string(controls, sizeof controls - 1)), "node 'a\\x00b\\x1B[2J\\x7F' tab\there");
  EXPECT_EQ(one_line("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \xff");  // bytes >= 0x80 (UTF-8 or not) are kept
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

// Reshape's shape and Split's sizes reach them through an Identity of an
// initializer, whose values ONNX's shape inference does not follow: it leaves
// the outputs' dims unknown, and the model's value_info declares other ones.
// The loader computes the shapes from the constants and refuses the
// disagreement (it used to take the declaration: a [4,1] column where the data
// make a [1,4] row, a 2x4 image where they make a 4x2 one, and both backends
// agreed on the wrong answer).
TEST_F(BadModel, DeclaredShapeDisagreesWithConstantReshape) {
  {
    onnx::ModelProto m = new_model();
    add_input(m, "x", {4, 4});
    add_initializer(m, "b", {4}, values(4, 1));
    add_int64_initializer(m, "s", {1, 4});
    add_node(m, "Identity", "s_id", {"s"}, {"s2"});
    add_node(m, "Reshape", "reshape_b", {"b", "s2"}, {"br"});
    add_node(m, "Add", "add", {"x", "br"}, {"y"});
    add_value_info(m, "br", {4, 1});
    add_output(m, "y", {4, 4});
    expect_refused(write("reshape_const.onnx", m), XSEP_STATUS_INVALID_ARGUMENT,
                   {"reshape_b", "'br'.*\\[4, 1\\].*\\[1, 4\\]"});
  }
  {
    onnx::ModelProto m = new_model();
    add_input(m, "x", {1, 8});
    add_int64_initializer(m, "s", {1, 1, 4, 2});
    add_node(m, "Identity", "s_id", {"s"}, {"s2"});
    add_node(m, "Reshape", "reshape_x", {"x", "s2"}, {"r"});
    add_node(m, "Relu", "relu", {"r"}, {"y"});
    add_value_info(m, "r", {1, 1, 2, 4});
    add_output(m, "y", {1, 1, 2, 4});
    expect_refused(write("reshape_x.onnx", m), XSEP_STATUS_INVALID_ARGUMENT,
                   {"reshape_x", "\\[1, 1, 2, 4\\].*\\[1, 1, 4, 2\\]"});
  }
}

TEST_F(BadModel, DeclaredShapeDisagreesWithConstantSplit) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 8, 2, 2});
  add_int64_initializer(m, "sizes", {2, 6});
  add_node(m, "Identity", "sizes_id", {"sizes"}, {"sizes2"});
  attr_int(add_node(m, "Split", "split_x", {"x", "sizes2"}, {"a", "b"}), "axis", 1);
  add_node(m, "Relu", "relu_a", {"a"}, {"ya"});
  add_node(m, "Relu", "relu_b", {"b"}, {"yb"});
  add_value_info(m, "a", {1, 6, 2, 2});
  add_value_info(m, "b", {1, 2, 2, 2});
  add_output(m, "ya", {1, 6, 2, 2});
  add_output(m, "yb", {1, 2, 2, 2});
  expect_refused(write("split_x.onnx", m), XSEP_STATUS_INVALID_ARGUMENT,
                 {"split_x", "'a'.*\\[1, 6, 2, 2\\].*\\[1, 2, 2, 2\\]"});
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
      std::vector<std::vector<float>> out;
      if (!run_seeded(path, b, XSEP_LAYOUT_NCHW, 6, &out)) continue;  // x = values(4, 6)
      const std::vector<float>& y = out.at(0);
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

}  // namespace
