// Bad calls through the graph runner's C API (xsep/graph.h), with both
// backends: out-of-range options (passed as plain ints from
// graph_bad_options.c), NULL arguments and bad indices to every function. Each
// gets INVALID_ARGUMENT (UNSUPPORTED for valid options a backend lacks) and a
// message naming the argument; a refused run writes nothing, and the graph stays
// usable afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include "graph_bad_options.h"
#include "model_builder.h"
#include "model_file_test.h"

namespace {

using namespace xsep_test;

class BadCall : public ModelFileTest {};

TEST_F(BadCall, InvalidOptions) {
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

TEST_F(BadCall, NullArguments) {
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
    EXPECT_EQ(status_name(xsep_graph_time(graph, 1, ms)), "XSEP_STATUS_INVALID_ARGUMENT");  // nothing to replay yet
    EXPECT_TRUE(std::strstr(xsep_last_error(), "xsep_graph_run once")) << xsep_last_error();
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

}  // namespace
