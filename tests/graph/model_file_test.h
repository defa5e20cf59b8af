// The graph tests' fixture: each case writes its models to its own temporary
// directory and loads them through the C API (xsep/graph.h) with both backends
// (REFERENCE and CUDA; the CUDA backend runs on the emulated device in an
// XSEP_DEVICE=emu build). expect_refused* check what a user gets back from a
// refused xsep_graph_load: the exact status, *graph set to NULL, and a one-line
// xsep_last_error() led by the function's name and naming the problem.
#pragma once
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include "xsep/graph.h"

namespace xsep_test {

namespace fs = std::filesystem;

inline const xsep_backend kBackends[] = {XSEP_BACKEND_REFERENCE, XSEP_BACKEND_CUDA};
inline const char* backend_name(xsep_backend b) { return b == XSEP_BACKEND_CUDA ? "cuda" : "reference"; }
inline std::string status_name(xsep_status s) { return xsep_status_string(s); }

class ModelFileTest : public testing::Test {
 protected:
  fs::path dir_;

  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    // e.g. "BadModelConvAttribute_Refused_conv_stride0" for the parameterized
    // BadModelConvAttribute.Refused/conv_stride0
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    dir_ = fs::path(testing::TempDir()) / ("xsep_graph_tests_" + std::to_string(getpid()) + "_" + name);
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

  // The shapes of g's inputs, or of its outputs.
  static std::vector<std::vector<int64_t>> io_shapes(const xsep_graph* g, bool outputs) {
    std::vector<std::vector<int64_t>> all;
    const int n = outputs ? xsep_graph_num_outputs(g) : xsep_graph_num_inputs(g);
    for (int i = 0; i < n; ++i) {
      int32_t rank = 0;
      int64_t dims[8] = {};
      EXPECT_EQ((outputs ? xsep_graph_output_shape : xsep_graph_input_shape)(g, i, &rank, dims), XSEP_STATUS_SUCCESS);
      all.emplace_back(dims, dims + rank);
    }
    return all;
  }
  static size_t numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return static_cast<size_t>(n);
  }

  // Runs the loaded g once, input i filled with values(its size, seed + i),
  // into *outputs (every output, poisoned with NaN first). A failed run is a
  // test failure, and false.
  static bool run_graph(xsep_graph* g, uint32_t seed, std::vector<std::vector<float>>* outputs) {
    std::vector<std::vector<float>> in;
    std::vector<const float*> ins;
    for (const auto& s : io_shapes(g, false)) in.push_back(values(numel(s), seed + static_cast<uint32_t>(in.size())));
    for (const auto& v : in) ins.push_back(v.data());
    outputs->clear();
    std::vector<float*> outs;
    for (const auto& s : io_shapes(g, true)) outputs->emplace_back(numel(s), NAN);
    for (auto& v : *outputs) outs.push_back(v.data());
    const xsep_status s = xsep_graph_run(g, ins.data(), outs.data());
    EXPECT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    return s == XSEP_STATUS_SUCCESS;
  }

  // Loads `path` on `backend` and `layout` and runs it once (run_graph);
  // false, with nothing to check, where a CUDA build has no GPU. A failed load
  // or run is a test failure.
  static bool run_seeded(const std::string& path, xsep_backend backend, xsep_layout layout, uint32_t seed,
                         std::vector<std::vector<float>>* outputs) {
    xsep_graph_options o = options(backend);
    o.layout = layout;
    xsep_graph* g = nullptr;
    const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
    if (s == XSEP_STATUS_NO_DEVICE) return false;
    EXPECT_EQ(status_name(s), "XSEP_STATUS_SUCCESS") << xsep_last_error();
    if (s != XSEP_STATUS_SUCCESS) return false;
    run_graph(g, seed, outputs);
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

}  // namespace xsep_test
