// The graph runner as an inference engine calls it (xsep/graph.h):
//   - GraphThreads: one loaded graph run from four host threads at once, each
//     with its own inputs: every thread gets the outputs of its own inputs
//     (calls on one graph are serialised; the graph's stream, activation
//     memory and last inputs are shared). Both backends; the cuda backend on
//     the emulated device in emu builds. In the TSan subset (graph_threads).
//   - GraphCapture (GPU only): load, run and destroy while this thread has a
//     cudaStreamCaptureModeGlobal capture open on a stream of its own, as
//     PyTorch's torch.cuda.graph does: they succeed, the capture stays valid,
//     and the thread's capture mode is the caller's again afterwards.
// The model is ONNX's GlobalAveragePool node test (1x3x5x5 -> 1x3x1x1), checked
// against the mean computed here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "xsep/graph.h"

#if !defined(XSEP_TESTS_EMU)
#include <cuda_runtime.h>
#endif

namespace {

std::string gap_model() {
  const char* env = std::getenv("XSEP_ONNX_NODE_TESTDATA");
  const std::string dir = env && *env ? env : "/usr/share/libonnx-testdata/data/node";
  return dir + "/test_globalaveragepool/model.onnx";
}

// Loads the model on `backend`; NO_DEVICE skips (a CUDA build without a GPU).
xsep_graph* load_or_skip(xsep_backend backend, bool* skip) {
  xsep_graph_options o;
  xsep_graph_default_options(&o);
  o.backend = backend;
  xsep_graph* g = nullptr;
  const xsep_status s = xsep_graph_load(gap_model().c_str(), &o, &g);
  *skip = s == XSEP_STATUS_NO_DEVICE;
  if (!*skip) {
    EXPECT_EQ(s, XSEP_STATUS_SUCCESS) << xsep_last_error();
  }
  return g;
}

constexpr int kPlanes = 3, kPixels = 25;

// Input of thread t, run r: distinct per (t, r), never all zero.
std::vector<float> input_of(int t, int r) {
  std::vector<float> x(kPlanes * kPixels);
  for (int i = 0; i < kPlanes * kPixels; ++i) x[i] = float((i * 7 + t * 13 + r * 5) % 23 - 11) / 8.f + float(t);
  return x;
}

// Number of outputs of one run that are not the means of x.
int run_and_count_wrong(xsep_graph* g, const std::vector<float>& x) {
  std::vector<float> y(kPlanes, NAN);
  const float* in[1] = {x.data()};
  float* out[1] = {y.data()};
  if (xsep_graph_run(g, in, out) != XSEP_STATUS_SUCCESS) return kPlanes;
  int wrong = 0;
  for (int p = 0; p < kPlanes; ++p) {
    double mean = 0;
    for (int i = 0; i < kPixels; ++i) mean += x[p * kPixels + i];
    mean /= kPixels;
    if (!(std::fabs(y[p] - mean) <= 1e-5 * (1 + std::fabs(mean)))) ++wrong;
  }
  return wrong;
}

class GraphThreads : public ::testing::TestWithParam<xsep_backend> {};

TEST_P(GraphThreads, OneGraphFromFourThreads) {
  bool skip = false;
  xsep_graph* g = load_or_skip(GetParam(), &skip);
  if (skip) GTEST_SKIP() << "no CUDA device";
  ASSERT_NE(g, nullptr);
  constexpr int kThreads = 4, kRuns = 25;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns; ++r) wrong[t] += run_and_count_wrong(g, input_of(t, r));
      double ms[2];
      if (xsep_graph_time(g, 2, ms) != XSEP_STATUS_SUCCESS) wrong[t] += 1;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t << ": outputs not of its inputs";
  xsep_graph_destroy(g);
}

INSTANTIATE_TEST_SUITE_P(Backends, GraphThreads, ::testing::Values(XSEP_BACKEND_REFERENCE, XSEP_BACKEND_CUDA),
                         [](const auto& info) { return info.param == XSEP_BACKEND_CUDA ? "cuda" : "reference"; });

#if !defined(XSEP_TESTS_EMU)
TEST(GraphCapture, LoadRunDestroyDuringGlobalCapture) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    GTEST_SKIP() << "no CUDA device";
  }
  cudaStream_t user = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&user, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(user, cudaStreamCaptureModeGlobal), cudaSuccess);

  bool skip = false;
  xsep_graph* g = load_or_skip(XSEP_BACKEND_CUDA, &skip);
  EXPECT_NE(g, nullptr);
  if (g) {
    EXPECT_EQ(run_and_count_wrong(g, input_of(0, 0)), 0) << xsep_last_error();
    EXPECT_EQ(run_and_count_wrong(g, input_of(1, 1)), 0) << xsep_last_error();
    xsep_graph_destroy(g);
  }
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  EXPECT_EQ(cudaStreamIsCapturing(user, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusActive) << "the caller's capture was invalidated";
  // The thread's interaction mode is the caller's (the default, Global) again.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  EXPECT_EQ(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
  EXPECT_EQ(mode, cudaStreamCaptureModeGlobal);
  cudaThreadExchangeStreamCaptureMode(&mode);

  cudaGraph_t captured = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(user, &captured), cudaSuccess);
  if (captured) cudaGraphDestroy(captured);
  cudaStreamDestroy(user);
}
#endif

}  // namespace
