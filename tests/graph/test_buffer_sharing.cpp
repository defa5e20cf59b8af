// Small graphs whose values share storage in the CUDA backend's arena, or could
// be made to share it wrongly: views of computed values chained into outputs,
// an input that is also an output, one value read twice by a node, a residual
// Add whose operand is the conv's own input or is produced after the conv, an
// SE-style scale from a graph input, Concat parts in mixed layouts, an unused
// Split part, dead code. Each runs on the cuda backend (NCHW and NHWC, float32)
// and must match the reference backend, which runs every ONNX node on its own
// buffers, on every output. (A memory-plan audit found these correct; they
// guard the lifetime rules of src/graph/memory_plan.cpp and the lowering's
// fusion guards.)
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "model_builder.h"
#include "model_file_test.h"

namespace {

using namespace xsep_test;

class BufferSharing : public ModelFileTest {
 protected:
  // The cuda backend, NCHW and NHWC, against the reference backend on every output.
  void expect_backends_agree(const std::string& file, const onnx::ModelProto& m) {
    const std::string path = write(file, m);
    std::vector<std::vector<float>> want;
    ASSERT_TRUE(run_seeded(path, XSEP_BACKEND_REFERENCE, XSEP_LAYOUT_NCHW, 31, &want));
    for (xsep_layout layout : {XSEP_LAYOUT_NCHW, XSEP_LAYOUT_NHWC}) {
      SCOPED_TRACE(file + (layout == XSEP_LAYOUT_NHWC ? " nhwc" : " nchw"));
      std::vector<std::vector<float>> got;
      if (!run_seeded(path, XSEP_BACKEND_CUDA, layout, 31, &got)) GTEST_SKIP() << "no CUDA device";
      ASSERT_EQ(got.size(), want.size());
      for (size_t o = 0; o < want.size(); ++o)
        for (size_t i = 0; i < want[o].size(); ++i)
          ASSERT_NEAR(got[o][i], want[o][i], 1e-5 * (1 + std::fabs(want[o][i])))
              << "output " << o << " element " << i;
    }
  }
};

constexpr int64_t C = 4, H = 8, W = 8;

// x [1,C,H,W] and a KxK conv C -> co (weights seeded by `seed`, pad K/2).
void add_conv(onnx::ModelProto& m, const std::string& name, const std::string& in, const std::string& out,
              int64_t ci, int64_t co, int64_t k, uint32_t seed) {
  add_initializer(m, name + ".w", {co, ci, k, k}, values(size_t(co * ci * k * k), seed));
  attr_ints(add_node(m, "Conv", name, {in, name + ".w"}, {out}), "pads", {k / 2, k / 2, k / 2, k / 2});
}

TEST_F(BufferSharing, ViewChainsAsOutputs) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_conv(m, "conv", "x", "c", C, C, 3, 1);
  add_node(m, "Relu", "relu", {"c"}, {"r"});
  attr_int(add_node(m, "Flatten", "flat", {"r"}, {"a"}), "axis", 1);
  add_node(m, "Identity", "id", {"a"}, {"o"});
  add_node(m, "Identity", "id_c", {"c"}, {"oc"});
  add_output(m, "r", {1, C, H, W});
  add_output(m, "o", {1, C * H * W});
  add_output(m, "oc", {1, C, H, W});
  expect_backends_agree("view_chains.onnx", m);
}

TEST_F(BufferSharing, InputIsAlsoAnOutput) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_conv(m, "conv", "x", "y", C, C, 3, 2);
  add_output(m, "x", {1, C, H, W});
  add_output(m, "y", {1, C, H, W});
  expect_backends_agree("input_output.onnx", m);
}

TEST_F(BufferSharing, OneValueReadTwiceByANode) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_node(m, "Relu", "relu", {"x"}, {"r"});
  add_node(m, "Add", "add_rr", {"r", "r"}, {"y1"});
  add_conv(m, "pw", "x", "c", C, C, 1, 3);  // pointwise: a GEMM that could fuse an Add
  add_node(m, "Add", "add_cc", {"c", "c"}, {"y2"});
  add_node(m, "Mul", "mul_y", {"y2", "y2"}, {"y3"});
  add_output(m, "y1", {1, C, H, W});
  add_output(m, "y3", {1, C, H, W});
  expect_backends_agree("read_twice.onnx", m);
}

TEST_F(BufferSharing, ResidualOperandIsTheConvsOwnInput) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, 8, H, W});
  add_conv(m, "pw", "x", "c", 8, 8, 1, 4);
  add_node(m, "Add", "residual", {"c", "x"}, {"y"});
  add_output(m, "y", {1, 8, H, W});
  expect_backends_agree("residual_own_input.onnx", m);
}

TEST_F(BufferSharing, ResidualOperandProducedAfterTheConv) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_conv(m, "pw", "x", "c", C, C, 1, 5);
  add_node(m, "Relu", "relu", {"x"}, {"r"});
  add_node(m, "Add", "residual", {"c", "r"}, {"y"});
  add_output(m, "y", {1, C, H, W});
  expect_backends_agree("residual_later.onnx", m);
}

TEST_F(BufferSharing, ChannelScaleFromAGraphInput) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_input(m, "s", {1, C, 1, 1});
  add_node(m, "Mul", "scale", {"x", "s"}, {"m"});
  add_conv(m, "pw", "m", "y", C, 8, 1, 6);
  add_node(m, "Mul", "square", {"s", "s"}, {"s2"});
  add_conv(m, "fc", "s2", "z", C, C, 1, 7);
  add_output(m, "y", {1, 8, H, W});
  add_output(m, "z", {1, C, 1, 1});
  expect_backends_agree("scale_from_input.onnx", m);
}

TEST_F(BufferSharing, ConcatOfPartsInMixedLayouts) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_conv(m, "conv", "x", "c", C, C, 3, 8);
  attr_int(add_node(m, "Concat", "cat", {"c", "x", "c"}, {"y"}), "axis", 1);
  add_output(m, "y", {1, 3 * C, H, W});
  expect_backends_agree("concat_mixed.onnx", m);
}

TEST_F(BufferSharing, SplitWithAnUnusedPartAndDeadCode) {
  onnx::ModelProto m = new_model();
  add_input(m, "x", {1, C, H, W});
  add_conv(m, "conv1", "x", "y1", C, C, 3, 9);
  add_node(m, "Relu", "dead", {"y1"}, {"d"});  // read by nothing, not an output
  add_conv(m, "conv2", "y1", "y2", C, C, 3, 10);
  attr_int(add_node(m, "Split", "split", {"y2"}, {"p0", "p1"}), "axis", 1);
  add_conv(m, "conv3", "p0", "y3", C / 2, C, 3, 11);
  add_output(m, "y3", {1, C, H, W});
  expect_backends_agree("split_dead.onnx", m);
}

}  // namespace
