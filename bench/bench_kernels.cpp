// xsep_bench: times the xsep kernels against cuDNN's depthwise convolution and a
// device-to-device copy of the same bytes (the bandwidth denominator), on the
// shapes of issue 5: every depthwise layer of mbv3s / mbv3s-xsep (SPEC 4) at batch
// 1, 64, 256, and DRAM-sized tensors with K = 3..31, stride 1 and 2; float16 and
// float32; NCHW and NHWC. Nothing here has been tuned on a GPU yet (bench/NOTES.md).
//
// Google Benchmark does registration, filtering (--benchmark_filter) and JSON
// output (--benchmark_out=F --benchmark_out_format=json). Each benchmark runs one
// benchmark iteration in which it times itself: CUDA events around a CUDA graph of
// B launches that rotate among buffer sets covering --xsep_l2_factor x the L2 size
// (so every launch reads x from DRAM), --xsep_samples such replays, the median of
// (replay time / B) reported as the manual time and as counters. Names:
//   copy/<dtype>/<shape>/s<stride>                       bytes(x) + bytes(y), read + written
//   cudnn|dwkxk|xsepconv|xsep3pass/<dtype>/<layout>/<shape>/k<K>/s<stride>
//   e.g. xsepconv/f16/nhwc/N64_C96_56x56/k7/s1
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>
#if defined(XSEP_BENCH_WITH_CUDNN)
#include <cudnn.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_fill.h"
#include "xsep/xsep.h"

namespace {

// ---- Options (--xsep_*; everything else is Google Benchmark's) -------------------
struct Options {
  int samples = 15;            // timed graph replays per benchmark; the median is reported
  double sample_us = 300;      // a replay holds enough launches to take at least this long
  int max_launches = 4096;     // cap on launches per replay
  double l2_factor = 3.0;      // the buffer sets cover this many times the L2 size
  bool graph = true;           // replay a CUDA graph (else plain stream launches)
  double budget_s = 0;         // > 0: benchmarks starting later than this are skipped
  bool check = true;           // poison y, count non-finite outputs after one launch
};
Options g_opt;
const auto g_start = std::chrono::steady_clock::now();

void print_help() {
  benchmark::PrintDefaultHelp();
  std::printf(
      "xsep_bench options:\n"
      "  --xsep_samples=N        timed replays per benchmark, median reported (default 15)\n"
      "  --xsep_sample_us=U      minimum GPU time of one replay, in microseconds (default 300)\n"
      "  --xsep_max_launches=M   cap on launches per replay (default 4096)\n"
      "  --xsep_l2_factor=F      rotate among buffer sets covering F x L2 (default 3)\n"
      "  --xsep_graph=0|1        time CUDA-graph replays (1, default) or stream launches (0)\n"
      "  --xsep_budget_s=S       skip (with an error) benchmarks starting after S seconds\n"
      "  --xsep_check=0|1        count non-finite outputs after a launch on a NaN-poisoned y (default 1)\n"
      "Names: copy/<f16|f32>/N<n>_C<c>_<h>x<w>/s<s>, and\n"
      "       <cudnn|dwkxk|xsepconv|xsep3pass>/<f16|f32>/<nchw|nhwc>/N<n>_C<c>_<h>x<w>/k<K>/s<s>\n"
      "Without a CUDA device only --benchmark_list_tests works; anything else exits with status 2.\n");
}

bool parse_xsep_flag(const char* arg) {
  auto value = [&](const char* name) -> const char* {
    const size_t n = std::strlen(name);
    return std::strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : nullptr;
  };
  if (const char* v = value("--xsep_samples")) return (g_opt.samples = std::max(1, std::atoi(v))), true;
  if (const char* v = value("--xsep_sample_us")) return (g_opt.sample_us = std::atof(v)), true;
  if (const char* v = value("--xsep_max_launches")) return (g_opt.max_launches = std::max(1, std::atoi(v))), true;
  if (const char* v = value("--xsep_l2_factor")) return (g_opt.l2_factor = std::atof(v)), true;
  if (const char* v = value("--xsep_graph")) return (g_opt.graph = std::atoi(v) != 0), true;
  if (const char* v = value("--xsep_budget_s")) return (g_opt.budget_s = std::atof(v)), true;
  if (const char* v = value("--xsep_check")) return (g_opt.check = std::atoi(v) != 0), true;
  return false;
}

// ---- Error checks: abort with file:line (setup), or a message (inside a benchmark) --
#define BENCH_CUDA(call)                                                                     \
  do {                                                                                       \
    const cudaError_t e_ = (call);                                                           \
    if (e_ != cudaSuccess) {                                                                 \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

std::string cuda_msg(const char* what, cudaError_t e) {
  return std::string(what) + ": " + cudaGetErrorString(e);
}

// ---- Problems -------------------------------------------------------------------
struct Problem {
  int n, c, h, w, k, s;
  bool f16, nhwc;
  std::string label;  // the network layers this shape is, or "dram"

  int ho() const { return (h - 1) / s + 1; }
  int wo() const { return (w - 1) / s + 1; }
  size_t esize() const { return f16 ? 2 : 4; }
  size_t x_elems() const { return size_t(n) * c * h * w; }
  size_t y_elems() const { return size_t(n) * c * ho() * wo(); }
  size_t x_bytes() const { return x_elems() * esize(); }
  size_t y_bytes() const { return y_elems() * esize(); }
  std::string dtype() const { return f16 ? "f16" : "f32"; }
  std::string layout() const { return nhwc ? "nhwc" : "nchw"; }
  std::string shape() const {
    char b[64];
    std::snprintf(b, sizeof b, "N%d_C%d_%dx%d", n, c, h, w);
    return b;
  }
  // dtype/layout/shape/kK/sS: the key shared by cudnn, dwkxk, xsepconv, xsep3pass.
  std::string key() const {
    return dtype() + "/" + layout() + "/" + shape() + "/k" + std::to_string(k) + "/s" + std::to_string(s);
  }
  // The copy depends only on the byte count: dtype/shape/sS.
  std::string copy_key() const { return dtype() + "/" + shape() + "/s" + std::to_string(s); }
  xsep_tensor_desc desc() const {
    return {n, c, h, w, f16 ? XSEP_DTYPE_F16 : XSEP_DTYPE_F32, nhwc ? XSEP_LAYOUT_NHWC : XSEP_LAYOUT_NCHW};
  }
};

enum class Op { kCopy, kCudnn, kKxK, kXSep, kXSep3 };
const char* op_name(Op op) {
  switch (op) {
    case Op::kCopy: return "copy";
    case Op::kCudnn: return "cudnn";
    case Op::kKxK: return "dwkxk";
    case Op::kXSep: return "xsepconv";
    default: return "xsep3pass";
  }
}
double macs_per_output(Op op, int k) {
  switch (op) {
    case Op::kCopy: return 0;
    case Op::kXSep:
    case Op::kXSep3: return 4 + 2.0 * k;
    default: return double(k) * k;
  }
}

// ---- Device state shared by all benchmarks ----------------------------------------
struct Device {
  bool present = false;
  cudaDeviceProp prop{};
  size_t l2_bytes = 50u << 20;
  cudaStream_t stream = nullptr;
  cudaEvent_t ev0 = nullptr, ev1 = nullptr;
  unsigned long long* d_count = nullptr;
#if defined(XSEP_BENCH_WITH_CUDNN)
  cudnnHandle_t cudnn = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 256u << 20;
#endif
};
Device g_dev;

// Medians measured in this run, so later benchmarks can report ratios in their
// counters (report.py recomputes them from the JSON either way).
std::map<std::string, double> g_copy_us;   // by copy_key
std::map<std::string, double> g_cudnn_us;  // by key

struct DeviceMem {
  void* p = nullptr;
  DeviceMem() = default;
  explicit DeviceMem(size_t bytes) {
    if (bytes) BENCH_CUDA(cudaMalloc(&p, bytes));
  }
  ~DeviceMem() {
    if (p) cudaFree(p);
  }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(p); }
};

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

// Buffer sets [x | y] in one allocation: set i's x at base + (i % sets) * stride.
// At least 2 sets, and together at least --xsep_l2_factor x L2.
int sets_for(size_t stride) {
  const double want = g_opt.l2_factor * double(g_dev.l2_bytes);
  return int(std::min<double>(2048, std::max<double>(2, std::ceil(want / double(stride)))));
}
struct BufferSets {
  size_t x_bytes, y_bytes, stride;
  int sets;
  DeviceMem mem;
  BufferSets(size_t xb, size_t yb)
      : x_bytes(xb), y_bytes(yb), stride(align256(xb) + align256(yb)), sets(sets_for(stride)),
        mem(stride * size_t(sets)) {}
  char* x(int i) const { return mem.as<char>() + size_t(i % sets) * stride; }
  char* y(int i) const { return x(i) + align256(x_bytes); }
};

// ---- Timing -------------------------------------------------------------------------
struct Stats {
  double median_us = 0, min_us = 0, p10_us = 0, p90_us = 0;
  int launches = 0, samples = 0, sets = 0;
  bool graph = false;
};

// launch(i) enqueues one operation on g_dev.stream using buffer set i; returns ""
// or an error message. Warms up, sizes a replay to >= sample_us, then times
// `samples` replays (a CUDA graph of the launches, or the launches themselves).
bool time_op(const std::function<std::string(int)>& launch, int sets, Stats* st, std::string* err) {
  cudaStream_t s = g_dev.stream;
  auto check_sync = [&](const char* what) {
    const cudaError_t e = cudaStreamSynchronize(s);
    if (e != cudaSuccess) *err = cuda_msg(what, e);
    return e == cudaSuccess;
  };
  for (int i = 0; i < std::min(sets, 4); ++i) {
    if (std::string m = launch(i); !m.empty()) return (*err = m), false;
  }
  if (!check_sync("warm-up")) return false;

  // Calibrate with 4 launches (an overestimate of the per-launch time: it includes the
  // launch latency of the first, so the replay ends up at least sample_us long).
  BENCH_CUDA(cudaEventRecord(g_dev.ev0, s));
  for (int i = 0; i < 4; ++i) {
    if (std::string m = launch(i); !m.empty()) return (*err = m), false;
  }
  BENCH_CUDA(cudaEventRecord(g_dev.ev1, s));
  if (!check_sync("calibration")) return false;
  float ms = 0;
  BENCH_CUDA(cudaEventElapsedTime(&ms, g_dev.ev0, g_dev.ev1));
  const double per_launch_us = std::max(1e-3, 1000.0 * ms / 4);
  int launches = int(std::clamp(std::ceil(g_opt.sample_us / per_launch_us), 1.0, double(g_opt.max_launches)));
  // Every replay should walk all sets, so that no launch finds its x in L2.
  if (sets > 1) launches = std::max(launches, sets) / sets * sets;

  cudaGraphExec_t exec = nullptr;
  bool use_graph = g_opt.graph;
  if (use_graph) {
    BENCH_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    std::string m;
    for (int i = 0; i < launches && m.empty(); ++i) m = launch(i);
    cudaGraph_t graph = nullptr;
    const cudaError_t e = cudaStreamEndCapture(s, &graph);
    if (m.empty() && e == cudaSuccess && graph && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess) {
      cudaGraphDestroy(graph);
    } else {
      // Not capturable (or failed while capturing): fall back to stream launches.
      if (graph) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      exec = nullptr;
      use_graph = false;
    }
  }
  auto replay = [&](int sample) -> std::string {
    if (use_graph) {
      const cudaError_t e = cudaGraphLaunch(exec, s);
      return e == cudaSuccess ? "" : cuda_msg("cudaGraphLaunch", e);
    }
    for (int i = 0; i < launches; ++i) {
      if (std::string m = launch(sample * launches + i); !m.empty()) return m;
    }
    return "";
  };
  std::vector<double> us;
  std::string m = replay(0);  // warm replay
  if (m.empty() && check_sync("warm replay")) {
    for (int i = 0; i < g_opt.samples && m.empty(); ++i) {
      BENCH_CUDA(cudaEventRecord(g_dev.ev0, s));
      m = replay(i + 1);
      BENCH_CUDA(cudaEventRecord(g_dev.ev1, s));
      if (!check_sync("timed replay")) break;
      BENCH_CUDA(cudaEventElapsedTime(&ms, g_dev.ev0, g_dev.ev1));
      us.push_back(1000.0 * ms / launches);
    }
  }
  if (exec) cudaGraphExecDestroy(exec);
  if (!m.empty()) *err = m;
  if (!err->empty() || us.empty()) {
    if (err->empty()) *err = "no sample was timed";
    return false;
  }
  std::sort(us.begin(), us.end());
  auto q = [&](double f) { return us[std::min(us.size() - 1, size_t(f * double(us.size() - 1) + 0.5))]; };
  st->median_us = us.size() % 2 ? us[us.size() / 2] : 0.5 * (us[us.size() / 2 - 1] + us[us.size() / 2]);
  st->min_us = us.front();
  st->p10_us = q(0.1);
  st->p90_us = q(0.9);
  st->launches = launches;
  st->samples = int(us.size());
  st->sets = sets;
  st->graph = use_graph;
  return true;
}

// Poisons y (all bits set: NaN in float16 and float32), runs one launch on set 0,
// and counts non-finite outputs. "" when every output is finite.
std::string check_output(const std::function<std::string(int)>& launch, void* y, size_t y_elems, bool f16) {
  if (!g_opt.check) return "";
  cudaStream_t s = g_dev.stream;
  BENCH_CUDA(cudaMemsetAsync(y, 0xff, y_elems * (f16 ? 2 : 4), s));
  BENCH_CUDA(cudaMemsetAsync(g_dev.d_count, 0, sizeof(unsigned long long), s));
  if (std::string m = launch(0); !m.empty()) return m;
  if (cudaError_t e = xsep_bench::count_nonfinite(y, y_elems, f16, g_dev.d_count, s); e != cudaSuccess)
    return cuda_msg("count_nonfinite", e);
  unsigned long long bad = 0;
  if (cudaError_t e = cudaMemcpyAsync(&bad, g_dev.d_count, sizeof bad, cudaMemcpyDeviceToHost, s); e != cudaSuccess)
    return cuda_msg("reading the non-finite count", e);
  if (cudaError_t e = cudaStreamSynchronize(s); e != cudaSuccess) return cuda_msg("output check", e);
  if (bad)
    return "output check: " + std::to_string(bad) + " of " + std::to_string(y_elems) +
           " outputs are NaN/Inf (unwritten or wrong)";
  return "";
}

std::string xsep_msg(const char* fn, xsep_status st) {
  return std::string(fn) + ": " + xsep_status_string(st) + ": " + xsep_last_error();
}

bool budget_exhausted() {
  if (g_opt.budget_s <= 0) return false;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count();
  return s > g_opt.budget_s;
}

// ---- cuDNN ------------------------------------------------------------------------
#if defined(XSEP_BENCH_WITH_CUDNN)
const char* cudnn_algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "?";
  }
}

struct CudnnConv {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgoPerf_t perf{};
  bool half_compute = false;
  ~CudnnConv() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

std::string cudnn_msg(const char* what, cudnnStatus_t st) {
  return std::string(what) + ": " + cudnnGetErrorString(st);
}
#define BENCH_CUDNN_OR_RETURN(call)                                 \
  do {                                                              \
    const cudnnStatus_t st_ = (call);                               \
    if (st_ != CUDNN_STATUS_SUCCESS) return cudnn_msg(#call, st_);  \
  } while (0)

// Descriptors for the K x K depthwise convolution (group count = C) in the
// problem's dtype and layout, and the fastest algorithm that
// cudnnFindConvolutionForwardAlgorithmEx measures within the workspace. float16
// tries float compute (PSEUDO_HALF_CONFIG) first, then half (TRUE_HALF_CONFIG).
std::string cudnn_setup(const Problem& p, const void* x, const void* w, void* y, CudnnConv* cc) {
  const cudnnDataType_t dt = p.f16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t fmt = p.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  BENCH_CUDNN_OR_RETURN(cudnnCreateTensorDescriptor(&cc->x));
  BENCH_CUDNN_OR_RETURN(cudnnCreateTensorDescriptor(&cc->y));
  BENCH_CUDNN_OR_RETURN(cudnnCreateFilterDescriptor(&cc->w));
  BENCH_CUDNN_OR_RETURN(cudnnCreateConvolutionDescriptor(&cc->conv));
  BENCH_CUDNN_OR_RETURN(cudnnSetTensor4dDescriptor(cc->x, fmt, dt, p.n, p.c, p.h, p.w));
  BENCH_CUDNN_OR_RETURN(cudnnSetTensor4dDescriptor(cc->y, fmt, dt, p.n, p.c, p.ho(), p.wo()));
  // Depthwise: C output maps of C/groups = 1 input channel; in NHWC the filter is
  // [C][K][K][1], the same bytes as [C][1][K][K].
  BENCH_CUDNN_OR_RETURN(cudnnSetFilter4dDescriptor(cc->w, dt, fmt, p.c, 1, p.k, p.k));
  std::string last = "no algorithm ran";
  for (const bool half : {false, true}) {
    if (half && !p.f16) break;
    const cudnnDataType_t compute = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    BENCH_CUDNN_OR_RETURN(cudnnSetConvolution2dDescriptor(cc->conv, p.k / 2, p.k / 2, p.s, p.s, 1, 1,
                                                          CUDNN_CROSS_CORRELATION, compute));
    BENCH_CUDNN_OR_RETURN(cudnnSetConvolutionGroupCount(cc->conv, p.c));
    BENCH_CUDNN_OR_RETURN(cudnnSetConvolutionMathType(cc->conv, CUDNN_DEFAULT_MATH));
    int on = 0, oc = 0, oh = 0, ow = 0;
    BENCH_CUDNN_OR_RETURN(cudnnGetConvolution2dForwardOutputDim(cc->conv, cc->x, cc->w, &on, &oc, &oh, &ow));
    if (on != p.n || oc != p.c || oh != p.ho() || ow != p.wo())
      return "cuDNN's output shape differs from xsep's";
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    const cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(
        g_dev.cudnn, cc->x, x, cc->w, w, cc->conv, cc->y, y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf,
        g_dev.workspace, g_dev.workspace_bytes);
    if (st != CUDNN_STATUS_SUCCESS) {
      last = cudnn_msg("cudnnFindConvolutionForwardAlgorithmEx", st);
      (void)cudaGetLastError();
      continue;
    }
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= g_dev.workspace_bytes) {
        cc->perf = perf[i];
        cc->half_compute = half;
        return "";
      }
    }
    last = "cudnnFindConvolutionForwardAlgorithmEx: no algorithm succeeded";
  }
  return last;
}
#endif

// ---- One benchmark ---------------------------------------------------------------
void set_counters(benchmark::State& state, const Problem& p, Op op, const Stats& st) {
  const double bytes = double(p.x_bytes() + p.y_bytes());
  auto& c = state.counters;
  c["us"] = st.median_us;
  c["us_min"] = st.min_us;
  c["us_p10"] = st.p10_us;
  c["us_p90"] = st.p90_us;
  c["GBps"] = bytes / (st.median_us * 1e-6) / 1e9;
  c["bytes"] = bytes;
  c["launches"] = st.launches;
  c["samples"] = st.samples;
  c["sets"] = st.sets;
  c["graph"] = st.graph ? 1 : 0;
  c["macs_per_out"] = macs_per_output(op, p.k);
  if (op == Op::kCopy) return;
  if (auto it = g_copy_us.find(p.copy_key()); it != g_copy_us.end()) c["pct_copy"] = 100.0 * it->second / st.median_us;
  if (op != Op::kCudnn) {
    if (auto it = g_cudnn_us.find(p.key()); it != g_cudnn_us.end()) c["x_cudnn"] = it->second / st.median_us;
  }
}

void run_benchmark(benchmark::State& state, const Problem& p, Op op) {
  if (!g_dev.present) {
    state.SkipWithError("no CUDA device");
    return;
  }
  if (budget_exhausted()) {
    state.SkipWithError("skipped: --xsep_budget_s exhausted");
    return;
  }
  cudaStream_t s = g_dev.stream;
  const xsep_tensor_desc xd = p.desc();
  const int C = p.c, K = p.k;

  // Data: buffer sets of x and y (x random in [-1, 1), y poisoned by the check), weights
  // and a BatchNorm-like epilogue with hard-swish on every pass (the real blocks' epilogue;
  // cuDNN runs the bare convolution, which can only flatter it).
  const size_t xb = op == Op::kCopy ? (p.x_bytes() + p.y_bytes()) / 2 : p.x_bytes();
  const size_t yb = op == Op::kCopy ? xb : p.y_bytes();
  BufferSets bufs(xb, yb);
  for (int i = 0; i < bufs.sets; ++i)
    BENCH_CUDA(xsep_bench::fill_uniform(bufs.x(i), xb / p.esize(), p.f16, -1.f, 1.f, 1000 + i, s));
  DeviceMem w2x2(4 * C * 4), w1xk(size_t(K) * C * 4), wkx1(size_t(K) * C * 4), wkxk(size_t(K) * K * C * 4);
  DeviceMem wkxk_io(size_t(K) * K * C * p.esize());  // cuDNN's filter, in the I/O dtype
  DeviceMem scale(C * 4), bias(C * 4);
  BENCH_CUDA(xsep_bench::fill_uniform(w2x2.p, 4 * C, false, -0.5f, 0.5f, 1, s));
  BENCH_CUDA(xsep_bench::fill_uniform(w1xk.p, size_t(K) * C, false, -1.f / K, 1.f / K, 2, s));
  BENCH_CUDA(xsep_bench::fill_uniform(wkx1.p, size_t(K) * C, false, -1.f / K, 1.f / K, 3, s));
  BENCH_CUDA(xsep_bench::fill_uniform(wkxk.p, size_t(K) * K * C, false, -1.f / K, 1.f / K, 4, s));
  BENCH_CUDA(xsep_bench::fill_uniform(wkxk_io.p, size_t(K) * K * C, p.f16, -1.f / K, 1.f / K, 4, s));
  BENCH_CUDA(xsep_bench::fill_uniform(scale.p, C, false, 0.5f, 1.5f, 5, s));
  BENCH_CUDA(xsep_bench::fill_uniform(bias.p, C, false, -0.2f, 0.2f, 6, s));
  const xsep_epilogue ep{scale.as<float>(), bias.as<float>(), XSEP_ACT_HARDSWISH};
  // The three-pass variant's intermediates (one set: written, then read right away).
  const bool three = op == Op::kXSep3;
  DeviceMem t1(three ? p.x_bytes() : 0), t2(three ? size_t(p.n) * C * p.h * p.wo() * p.esize() : 0);
  BENCH_CUDA(cudaStreamSynchronize(s));

  std::function<std::string(int)> launch;
  std::string label = p.label;
#if defined(XSEP_BENCH_WITH_CUDNN)
  CudnnConv cc;
#endif
  switch (op) {
    case Op::kCopy:
      launch = [&](int i) -> std::string {
        const cudaError_t e = cudaMemcpyAsync(bufs.y(i), bufs.x(i), xb, cudaMemcpyDeviceToDevice, s);
        return e == cudaSuccess ? "" : cuda_msg("cudaMemcpyAsync", e);
      };
      label = "d2d copy of " + std::to_string(xb) + " bytes";
      break;
    case Op::kCudnn: {
#if defined(XSEP_BENCH_WITH_CUDNN)
      if (g_dev.cudnn == nullptr) {  // cudnnCreate failed at start-up (the context says why)
        state.SkipWithError("cuDNN unavailable: cudnnCreate failed");
        return;
      }
      if (std::string m = cudnn_setup(p, bufs.x(0), wkxk_io.p, bufs.y(0), &cc); !m.empty()) {
        state.SkipWithError(m.c_str());
        return;
      }
      launch = [&](int i) -> std::string {
        const float alpha = 1.f, beta = 0.f;
        const cudnnStatus_t st = cudnnConvolutionForward(g_dev.cudnn, &alpha, cc.x, bufs.x(i), cc.w, wkxk_io.p,
                                                         cc.conv, cc.perf.algo, g_dev.workspace, cc.perf.memory,
                                                         &beta, cc.y, bufs.y(i));
        return st == CUDNN_STATUS_SUCCESS ? "" : cudnn_msg("cudnnConvolutionForward", st);
      };
      label = std::string(cudnn_algo_name(cc.perf.algo)) + (p.f16 ? (cc.half_compute ? " half" : " float") : "") +
              " ws=" + std::to_string(cc.perf.memory) + " " + p.label;
      state.counters["cudnn_algo"] = double(cc.perf.algo);
      state.counters["cudnn_half_compute"] = cc.half_compute ? 1 : 0;
      state.counters["cudnn_ws_bytes"] = double(cc.perf.memory);
      break;
#else
      state.SkipWithError("built without cuDNN (XSEP_WITH_CUDNN=OFF or cuDNN not found)");
      return;
#endif
    }
    case Op::kKxK:
      launch = [&](int i) -> std::string {
        const xsep_status st = xsep_dwconvkxk(&xd, bufs.x(i), wkxk.as<float>(), K, p.s, &ep, bufs.y(i), s);
        return st == XSEP_STATUS_SUCCESS ? "" : xsep_msg("xsep_dwconvkxk", st);
      };
      break;
    case Op::kXSep:
      launch = [&](int i) -> std::string {
        xsep_xsepconv_params prm{};
        prm.k = K;
        prm.stride = p.s;
        prm.pad = XSEP_PAD_BOTTOM_RIGHT;
        prm.w2x2 = w2x2.as<float>();
        prm.w1xk = w1xk.as<float>();
        prm.wkx1 = wkx1.as<float>();
        prm.ep2x2 = prm.ep1xk = prm.epkx1 = ep;
        const xsep_status st = xsep_xsepconv(&xd, bufs.x(i), &prm, bufs.y(i), s);
        return st == XSEP_STATUS_SUCCESS ? "" : xsep_msg("xsep_xsepconv", st);
      };
      break;
    case Op::kXSep3:
      launch = [&](int i) -> std::string {
        xsep_status st = xsep_dwconv2x2(&xd, bufs.x(i), w2x2.as<float>(), XSEP_PAD_BOTTOM_RIGHT, &ep, t1.p, s);
        if (st != XSEP_STATUS_SUCCESS) return xsep_msg("xsep_dwconv2x2", st);
        st = xsep_dwconv1xk(&xd, t1.p, w1xk.as<float>(), K, p.s, &ep, t2.p, s);
        if (st != XSEP_STATUS_SUCCESS) return xsep_msg("xsep_dwconv1xk", st);
        xsep_tensor_desc d2 = xd;
        d2.w = p.wo();
        st = xsep_dwconvkx1(&d2, t2.p, wkx1.as<float>(), K, p.s, &ep, bufs.y(i), s);
        return st == XSEP_STATUS_SUCCESS ? "" : xsep_msg("xsep_dwconvkx1", st);
      };
      break;
  }

  if (op != Op::kCopy) {
    if (std::string m = check_output(launch, bufs.y(0), p.y_elems(), p.f16); !m.empty()) {
      state.SkipWithError(m.c_str());
      return;
    }
  }
  Stats st;
  std::string err;
  for (auto _ : state) {
    if (!time_op(launch, bufs.sets, &st, &err)) {
      state.SkipWithError(err.c_str());
      break;
    }
    state.SetIterationTime(st.median_us * 1e-6);
  }
  if (!err.empty()) return;
  if (op == Op::kCopy) g_copy_us[p.copy_key()] = st.median_us;
  if (op == Op::kCudnn) g_cudnn_us[p.key()] = st.median_us;
  set_counters(state, p, op, st);
  state.SetLabel(label);
}

// ---- The shapes of issue 5 --------------------------------------------------------
// SPEC 4: MobileNetV3-Small's depthwise layers (channels = the block's expanded
// width, spatial size = the block's input resolution: 224 -> stem s2 -> 112, then
// each block's stride). mbv3s runs K x K everywhere; mbv3s-xsep replaces the
// stride-1 5x5 layers (blocks 5, 6, 7, 8, 10, 11) by XSepConv with K = 5.
struct Layer {
  int c, hw, k, s;
  bool xsep_in_variant;
  const char* blocks;
};
const Layer kMbv3sLayers[] = {
    {16, 112, 3, 2, false, "b1"},  {72, 56, 3, 2, false, "b2"},   {88, 28, 3, 1, false, "b3"},
    {96, 28, 5, 2, false, "b4"},   {240, 14, 5, 1, true, "b5,b6"}, {120, 14, 5, 1, true, "b7"},
    {144, 14, 5, 1, true, "b8"},   {288, 14, 5, 2, false, "b9"},  {576, 7, 5, 1, true, "b10,b11"},
};
const int kBatches[] = {1, 64, 256};
const int kDramShapes[][4] = {{64, 96, 56, 56}, {32, 256, 56, 56}};
const int kDramK[] = {3, 5, 7, 9, 13, 31};

std::set<std::string> g_registered;
void add(const Problem& p, Op op) {
  const std::string name = op == Op::kCopy ? std::string("copy/") + p.copy_key()
                                           : std::string(op_name(op)) + "/" + p.key();
  if (!g_registered.insert(name).second) return;  // the same copy serves several rows
  benchmark::RegisterBenchmark(name.c_str(), [p, op](benchmark::State& st) { run_benchmark(st, p, op); })
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMicrosecond);
}

// Per problem: the copy first, then cuDNN, then ours, so the ratio counters of a
// row find their denominators (report.py does not depend on the order).
void add_problem(const Problem& p, bool xsep) {
  add(p, Op::kCopy);
  add(p, Op::kCudnn);
  add(p, Op::kKxK);
  if (xsep) {
    add(p, Op::kXSep);
    add(p, Op::kXSep3);
  }
}

void register_all() {
  for (const bool f16 : {true, false}) {
    // (b) DRAM-sized tensors first: the bandwidth targets.
    for (const auto& d : kDramShapes)
      for (const int s : {1, 2})
        for (const bool nhwc : {true, false})
          for (const int k : kDramK) add_problem({d[0], d[1], d[2], d[3], k, s, f16, nhwc, "dram"}, true);
    // (a) The networks' depthwise layers.
    for (const int n : kBatches)
      for (const bool nhwc : {true, false})
        for (const Layer& l : kMbv3sLayers) {
          std::string label = std::string("mbv3s ") + l.blocks;
          if (l.xsep_in_variant) label += "; mbv3s-xsep " + std::string(l.blocks) + " (XSepConv K=5)";
          add_problem({n, l.c, l.hw, l.hw, l.k, l.s, f16, nhwc, label}, l.xsep_in_variant);
        }
  }
}

// ---- Setup -------------------------------------------------------------------------
std::string version_text(int v) {  // CUDA's 1000*major + 10*minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

bool open_device(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    *why = e != cudaSuccess ? cudaGetErrorString(e) : "the device count is 0";
    (void)cudaGetLastError();
    return false;
  }
  BENCH_CUDA(cudaSetDevice(0));
  BENCH_CUDA(cudaGetDeviceProperties(&g_dev.prop, 0));
  int l2 = 0;
  BENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  if (l2 > 0) g_dev.l2_bytes = size_t(l2);
  BENCH_CUDA(cudaStreamCreateWithFlags(&g_dev.stream, cudaStreamNonBlocking));
  BENCH_CUDA(cudaEventCreate(&g_dev.ev0));
  BENCH_CUDA(cudaEventCreate(&g_dev.ev1));
  BENCH_CUDA(cudaMalloc(reinterpret_cast<void**>(&g_dev.d_count), sizeof(unsigned long long)));
  g_dev.present = true;

  int driver = 0, runtime = 0, bus = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  cudaDeviceGetAttribute(&bus, cudaDevAttrGlobalMemoryBusWidth, 0);
  benchmark::AddCustomContext("device", g_dev.prop.name);
  benchmark::AddCustomContext("compute_capability",
                              std::to_string(g_dev.prop.major) + "." + std::to_string(g_dev.prop.minor));
  benchmark::AddCustomContext("sm_count", std::to_string(g_dev.prop.multiProcessorCount));
  benchmark::AddCustomContext("l2_bytes", std::to_string(g_dev.l2_bytes));
  benchmark::AddCustomContext("global_mem_bytes", std::to_string(g_dev.prop.totalGlobalMem));
  benchmark::AddCustomContext("mem_bus_width_bits", std::to_string(bus));
  benchmark::AddCustomContext("cuda_driver_api", version_text(driver));
  benchmark::AddCustomContext("cuda_runtime", version_text(runtime));
  benchmark::AddCustomContext("xsep_version", std::to_string(xsep_version()));
  char opts[256];
  std::snprintf(opts, sizeof opts, "samples=%d sample_us=%g l2_factor=%g graph=%d check=%d", g_opt.samples,
                g_opt.sample_us, g_opt.l2_factor, int(g_opt.graph), int(g_opt.check));
  benchmark::AddCustomContext("xsep_bench_options", opts);
#if defined(XSEP_BENCH_WITH_CUDNN)
  // Without cuDNN the xsep and copy rows still run; the cuDNN rows are skipped
  // with an error, and the context records why.
  if (const cudnnStatus_t st = cudnnCreate(&g_dev.cudnn); st != CUDNN_STATUS_SUCCESS) {
    std::fprintf(stderr, "xsep_bench: cudnnCreate failed: %s; the cudnn rows will be skipped\n",
                 cudnnGetErrorString(st));
    g_dev.cudnn = nullptr;
    benchmark::AddCustomContext("cudnn_version", std::string("cudnnCreate failed: ") + cudnnGetErrorString(st));
    return true;
  }
  cudnnSetStream(g_dev.cudnn, g_dev.stream);
  BENCH_CUDA(cudaMalloc(&g_dev.workspace, g_dev.workspace_bytes));
  const size_t v = cudnnGetVersion();
  benchmark::AddCustomContext("cudnn_version", std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) +
                                                   "." + std::to_string(v % 100));
  benchmark::AddCustomContext("cudnn_header_version", std::to_string(CUDNN_MAJOR) + "." +
                                                          std::to_string(CUDNN_MINOR) + "." +
                                                          std::to_string(CUDNN_PATCHLEVEL));
#else
  benchmark::AddCustomContext("cudnn_version", "none (built without cuDNN)");
#endif
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool list_only = false;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--benchmark_list_tests") == 0 ||
        std::strcmp(argv[i], "--benchmark_list_tests=true") == 0 ||
        std::strcmp(argv[i], "--benchmark_list_tests=1") == 0)
      list_only = true;
  benchmark::Initialize(&argc, argv, print_help);
  int kept = 1;
  for (int i = 1; i < argc; ++i)
    if (!parse_xsep_flag(argv[i])) argv[kept++] = argv[i];
  argc = kept;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  std::string why;
  if (!open_device(&why) && !list_only) {
    std::fprintf(stderr,
                 "xsep_bench: no CUDA device (%s): nothing to time. This binary measures only on a GPU; "
                 "--benchmark_list_tests works without one.\n",
                 why.c_str());
    return 2;
  }
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
