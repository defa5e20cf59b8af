// The graph runner's general kernels (kernels/graph/graph_kernels.h) against
// naive loops in double, on random data, with float32 and float16
// activations. Every output buffer is poisoned with NaN bytes before the call
// and is larger than what the call writes (row padding, guard elements after
// the end): written elements must match the loop (f32: max|diff| <=
// 1e-4 * max|ref| + 1e-6; f16: 4e-3 * max|ref|), all others must still hold
// the poison. Grids are kept small: the emulated device runs every CUDA
// thread on the host.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "../../kernels/graph/gemm_tiles.h"
#include "../../kernels/graph/graph_kernels.h"
#include "../support/device_buffer.h"
#include "../support/tensor_check.h"

namespace {

using namespace xsep::kernels::graph;
using xsep_test::DeviceBuffer;

constexpr int kInvalidValue = static_cast<int>(cudaErrorInvalidValue);

xsep_dtype dtype_of(bool f16) { return f16 ? XSEP_DTYPE_F16 : XSEP_DTYPE_F32; }
size_t elem_size(bool f16) { return f16 ? 2 : 4; }
const char* dname(bool f16) { return f16 ? "f16" : "f32"; }

uint32_t g_seed = 1;  // every array gets its own seed, in a deterministic order

// A device array of random values and, on the host, the values it holds
// (float16 data rounded as stored).
struct DevArray {
  std::vector<float> v;
  std::shared_ptr<DeviceBuffer> buf;
  bool f16 = false;
  const void* at(int64_t offset) const {
    return static_cast<const char*>(buf->get()) + offset * static_cast<int64_t>(elem_size(f16));
  }
  Operand op(int64_t offset = 0) const { return Operand{at(offset), f16}; }
  const float* f32() const { return buf->as<const float>(); }
};

DevArray random_array(size_t count, bool f16, float lo = -1.f, float hi = 1.f) {
  const std::vector<float> vals = xsep_test::random_floats(count, lo, hi, g_seed++);
  const std::vector<unsigned char> bytes = xsep_test::encode(vals, dtype_of(f16));
  const std::vector<double> stored = xsep_test::decode(bytes.data(), count, dtype_of(f16));
  DevArray a;
  a.f16 = f16;
  a.v.assign(stored.begin(), stored.end());
  a.buf = std::make_shared<DeviceBuffer>(bytes.size());
  a.buf->upload(bytes.data(), bytes.size());
  return a;
}
DevArray weights(size_t count, float lo = -1.f, float hi = 1.f) {
  return random_array(count, false, lo, hi);
}

// An output buffer of `count` elements, every byte 0xFF (NaN in both dtypes).
struct OutArray {
  size_t count;
  bool f16;
  std::shared_ptr<DeviceBuffer> buf;
  OutArray(size_t n, bool half)
      : count(n), f16(half), buf(std::make_shared<DeviceBuffer>(n * elem_size(half))) {
    buf->fill_bytes(0xFF);
  }
  void* at(int64_t offset) const {
    return static_cast<char*>(buf->get()) + offset * static_cast<int64_t>(elem_size(f16));
  }
};

// The expected content of an OutArray: ref[i] where written[i], else the poison.
struct Expected {
  std::vector<double> ref;
  std::vector<char> written;
  explicit Expected(size_t n) : ref(n, 0.0), written(n, 0) {}
  void set(int64_t i, double v) {
    ref[static_cast<size_t>(i)] = v;
    written[static_cast<size_t>(i)] = 1;
  }
};

::testing::AssertionResult matches(const OutArray& out, const Expected& e) {
  const std::vector<unsigned char> bytes = out.buf->download();
  const std::vector<double> got = xsep_test::decode(bytes.data(), out.count, dtype_of(out.f16));
  const size_t es = elem_size(out.f16);
  double max_ref = 0;
  size_t n_written = 0;
  for (size_t i = 0; i < out.count; ++i)
    if (e.written[i]) max_ref = std::max(max_ref, std::fabs(e.ref[i])), ++n_written;
  const double bound = out.f16 ? 4e-3 * max_ref : 1e-4 * max_ref + 1e-6;
  std::ostringstream bad;
  int n_bad = 0;
  double max_err = 0;
  for (size_t i = 0; i < out.count; ++i) {
    if (!e.written[i]) {
      bool poison = true;
      for (size_t b = 0; b < es; ++b) poison = poison && bytes[i * es + b] == 0xFF;
      if (!poison && n_bad++ < 5) bad << "\n  [" << i << "] written (" << got[i] << "), must not be";
      continue;
    }
    const double err = std::fabs(got[i] - e.ref[i]);
    if (!std::isfinite(got[i]) || err > bound) {
      if (n_bad++ < 5) bad << "\n  [" << i << "] got " << got[i] << ", ref " << e.ref[i];
    } else {
      max_err = std::max(max_err, err);
    }
  }
  if (n_bad > 0)
    return ::testing::AssertionFailure() << n_bad << " bad of " << out.count << " elements ("
                                         << n_written << " written), bound " << bound
                                         << bad.str();
  return ::testing::AssertionSuccess() << "max|diff| " << max_err << " <= " << bound;
}

// ---- Activations ----------------------------------------------------------------
Act make_act(int i) {
  Act a;
  switch (i % 6) {
    case 1: a.kind = ActKind::kRelu; break;
    case 2: a.kind = ActKind::kClip, a.lo = -0.5f, a.hi = 0.75f; break;
    case 3: a.kind = ActKind::kClip, a.lo = 0.f, a.hi = 6.f; break;  // Relu6
    case 4: a.kind = ActKind::kHardSwish; break;
    case 5: a.kind = ActKind::kHardSigmoid, a.alpha = 0.2f, a.beta = 0.5f; break;
    default: break;
  }
  return a;
}
std::string act_name(const Act& a) {
  switch (a.kind) {
    case ActKind::kRelu: return "relu";
    case ActKind::kClip: return "clip(" + std::to_string(a.lo) + "," + std::to_string(a.hi) + ")";
    case ActKind::kHardSwish: return "hardswish";
    case ActKind::kHardSigmoid: return "hardsigmoid";
    default: return "none";
  }
}
double ref_act(const Act& a, double v) {
  switch (a.kind) {
    case ActKind::kRelu: return std::max(v, 0.0);
    case ActKind::kClip: return std::min(std::max(v, double(a.lo)), double(a.hi));
    case ActKind::kHardSwish: return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    case ActKind::kHardSigmoid:
      return std::min(std::max(double(a.alpha) * v + double(a.beta), 0.0), 1.0);
    default: return v;
  }
}

class GraphKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!xsep_test::have_device()) GTEST_SKIP() << "no CUDA device visible to the runtime";
  }
};

// ---- gemm ---------------------------------------------------------------------------
class GraphKernelGemm : public GraphKernelTest {};

struct GemmCase {
  int batch = 1, m = 1, n = 1, k = 1;
  bool a_t = false, b_t = false, y_t = false;  // column-major A [m][k], B [k][n], Y [m][n]
  bool a_f16 = false, b_f16 = false, c_f16 = false, ks_f16 = false, y_f16 = false;
  bool a_shared = false, b_shared = false;  // one matrix for the whole batch (stride 0)
  enum { kNoC, kFullC, kRowC, kColC, kBatchC } c = kNoC;  // C [b][m][n], [n], [m], [m][n]
  int bias_axis = 0;
  bool kscale = false;
  Act act;
  float alpha = 1.f, beta = 1.f;
  int tm = 0, tn = 0;  // forced block tile of the CUDA-core kernel (0: gemm()'s own choice)
  int tc = -1;         // >= 0: the tensor-core kernel, blocks 16 * tc wide (0: its own choice)
  int y_pad = 0;       // elements between y's rows (must stay poisoned)
};

std::string describe(const GemmCase& t) {
  std::ostringstream s;
  s << "gemm b" << t.batch << " m" << t.m << " n" << t.n << " k" << t.k << (t.a_t ? " At" : "")
    << (t.b_t ? " Bt" : "") << (t.y_t ? " Yt" : "") << " A:" << dname(t.a_f16)
    << (t.a_shared ? "(shared)" : "") << " B:" << dname(t.b_f16) << (t.b_shared ? "(shared)" : "")
    << " Y:" << dname(t.y_f16) << " C:" << int(t.c) << (t.c ? dname(t.c_f16) : "")
    << " bias_axis:" << t.bias_axis << (t.kscale ? " kscale:" : "") << (t.kscale ? dname(t.ks_f16) : "")
    << " alpha:" << t.alpha << " beta:" << t.beta << " act:" << act_name(t.act) << " tile:" << t.tm
    << "x" << t.tn << " tc:" << t.tc << " y_pad:" << t.y_pad;
  return s.str();
}

void run_gemm(const GemmCase& t) {
  SCOPED_TRACE(describe(t));
  const int B = t.batch, M = t.m, N = t.n, K = t.k;
  GemmArgs g;
  g.batch = B, g.m = M, g.n = N, g.k = K;

  const DevArray a = random_array(size_t(t.a_shared ? 1 : B) * M * K, t.a_f16);
  g.a = a.op();
  g.a_b = t.a_shared ? 0 : int64_t{M} * K;
  g.a_m = t.a_t ? 1 : K;
  g.a_k = t.a_t ? M : 1;

  const DevArray b = random_array(size_t(t.b_shared ? 1 : B) * K * N, t.b_f16);
  g.b = b.op();
  g.b_b = t.b_shared ? 0 : int64_t{K} * N;
  g.b_k = t.b_t ? 1 : N;
  g.b_n = t.b_t ? K : 1;

  DevArray ks;
  if (t.kscale) {
    ks = random_array(size_t(B) * K, t.ks_f16, 0.05f, 1.f);  // SE multipliers
    g.kscale = ks.op();
    g.ks_b = K;
    g.ks_k = 1;
  }

  DevArray c;
  switch (t.c) {
    case GemmCase::kFullC: c = random_array(size_t(B) * M * N, t.c_f16), g.c_b = int64_t{M} * N, g.c_m = N, g.c_n = 1; break;
    case GemmCase::kRowC: c = random_array(N, t.c_f16), g.c_n = 1; break;
    case GemmCase::kColC: c = random_array(M, t.c_f16), g.c_m = 1; break;
    case GemmCase::kBatchC: c = random_array(size_t(M) * N, t.c_f16), g.c_m = N, g.c_n = 1; break;
    default: break;
  }
  if (t.c != GemmCase::kNoC) g.c = c.op();
  g.alpha = t.alpha;
  g.beta = t.beta;

  DevArray bias;
  if (t.bias_axis != 0) {
    bias = weights(t.bias_axis == 1 ? M : N);
    g.bias = bias.f32();
    g.bias_axis = t.bias_axis;
  }
  g.act = t.act;

  // y: row-major [b][m][n] with row pitch N + pad, or column-major with pitch M + pad.
  const int64_t pitch = (t.y_t ? M : N) + t.y_pad;
  const int64_t y_b = (t.y_t ? N : M) * pitch;
  const OutArray y(size_t(B * y_b) + 16, t.y_f16);  // + guard
  g.y = y.at(0);
  g.y_f16 = t.y_f16;
  g.y_b = y_b;
  g.y_m = t.y_t ? 1 : pitch;
  g.y_n = t.y_t ? pitch : 1;

  if (K == 0) g.a.data = g.b.data = g.kscale.data = nullptr;  // never read: may be null

  const int rc = t.tc >= 0                  ? gemm_tensor_core(g, t.tc, nullptr)
                 : (t.tm == 0 && t.tn == 0) ? gemm(g, nullptr)
                                            : gemm_with_tile(g, t.tm, t.tn, nullptr);
  ASSERT_EQ(rc, 0);

  Expected e(y.count);
  for (int bi = 0; bi < B; ++bi)
    for (int mi = 0; mi < M; ++mi)
      for (int ni = 0; ni < N; ++ni) {
        double acc = 0;
        for (int ki = 0; ki < K; ++ki) {
          double av = a.v[size_t(bi * g.a_b + mi * g.a_m + ki * g.a_k)];
          if (t.kscale) av *= ks.v[size_t(bi * g.ks_b + ki)];
          acc += av * b.v[size_t(bi * g.b_b + ki * g.b_k + ni * g.b_n)];
        }
        double v = double(t.alpha) * acc;
        if (t.bias_axis != 0) v += bias.v[size_t(t.bias_axis == 1 ? mi : ni)];
        if (t.c != GemmCase::kNoC) v += double(t.beta) * c.v[size_t(bi * g.c_b + mi * g.c_m + ni * g.c_n)];
        e.set(bi * g.y_b + mi * g.y_m + ni * g.y_n, ref_act(t.act, v));
      }
  EXPECT_TRUE(matches(y, e));
}

TEST_F(GraphKernelGemm, OddShapes) {
  const int shapes[][3] = {{1, 1, 1},   {7, 65, 130}, {65, 7, 1},  {130, 130, 65},
                           {1, 130, 7}, {130, 1, 65}, {65, 65, 7}, {7, 1, 130}};
  for (const auto& s : shapes) {
    GemmCase t;
    t.m = s[0], t.n = s[1], t.k = s[2];
    run_gemm(t);
  }
}

// Every block tile (3 x 3 kernels per dtype pair), with transposed operands,
// dtypes, outputs and both loader mappings in turn; K = 33 (a partial K step).
TEST_F(GraphKernelGemm, EveryTileTransposedStrides) {
  int i = 0;
  for (int tm : {1, 2, 4})
    for (int tn : {1, 2, 4}) {
      GemmCase t;
      t.m = 65, t.n = 130, t.k = 33;
      t.tm = tm, t.tn = tn;
      t.a_t = i & 1, t.b_t = (i >> 1) & 1, t.y_t = i % 3 == 2;
      t.a_f16 = i % 4 == 1 || i % 4 == 3, t.b_f16 = i % 4 >= 2, t.y_f16 = i % 2 == 1;
      t.y_pad = i % 3;
      t.act = make_act(i);
      run_gemm(t);
      ++i;
    }
}

TEST_F(GraphKernelGemm, BroadcastCBiasAlphaBeta) {
  int i = 0;
  for (auto cm : {GemmCase::kFullC, GemmCase::kRowC, GemmCase::kColC, GemmCase::kBatchC})
    for (int axis : {1, 2}) {
      GemmCase t;
      t.batch = 2, t.m = 7, t.n = 65, t.k = 20;
      t.c = cm;
      t.c_f16 = i % 2 == 1;
      t.y_f16 = i % 4 >= 2;
      t.bias_axis = axis;
      t.alpha = i % 3 == 0 ? 1.f : 0.75f;
      t.beta = i % 2 == 0 ? 1.f : -1.5f;
      t.y_t = i == 5;
      run_gemm(t);
      ++i;
    }
}

// kscale staged on A (tm <= tn) and on B (tm > tn), both dtypes, transposed or not.
TEST_F(GraphKernelGemm, KScale) {
  int i = 0;
  for (int tiles : {0, 1})
    for (bool ks_f16 : {false, true})
      for (bool trans : {false, true}) {
        GemmCase t;
        t.batch = 2, t.m = 7, t.n = 130, t.k = 65;
        t.tm = tiles ? 4 : 1, t.tn = tiles ? 1 : 4;
        t.kscale = true, t.ks_f16 = ks_f16;
        t.a_t = trans, t.b_t = !trans, t.y_t = trans && ks_f16;
        t.b_f16 = ks_f16, t.y_f16 = ks_f16;
        t.act = make_act(i++);
        run_gemm(t);
      }
}

TEST_F(GraphKernelGemm, EveryActivation) {
  for (int i = 0; i < 6; ++i)
    for (bool f16 : {false, true}) {
      GemmCase t;
      t.m = 65, t.n = 7, t.k = 65;
      t.a_f16 = t.y_f16 = f16;
      t.c = GemmCase::kFullC, t.c_f16 = f16;
      t.bias_axis = 1 + i % 2;
      t.act = make_act(i);
      run_gemm(t);
    }
}

// Pointwise convolutions as the graph runner issues them: NCHW, y[b][co][hw] =
// W[co][ci] x[b][ci][hw]; NHWC, y[b][hw][co] = x[b][hw][ci] W^T; with BN
// bias, the SE multiplier (kscale) and a residual (C), f32 and f16.
TEST_F(GraphKernelGemm, PointwiseConvLayouts) {
  for (bool f16 : {false, true})
    for (bool nhwc : {false, true}) {
      const int batch = 2, ci = 24, co = 40, hw = 7 * 7;
      GemmCase t;
      t.batch = batch;
      if (!nhwc) {
        t.m = co, t.n = hw, t.k = ci;
        t.a_shared = true;  // W, f32
        t.b_f16 = f16;      // x
        t.bias_axis = 1;
      } else {
        t.m = hw, t.n = co, t.k = ci;
        t.a_f16 = f16;                   // x
        t.b_shared = true, t.b_t = true;  // W^T, f32
        t.bias_axis = 2;
      }
      t.y_f16 = f16;
      t.kscale = true, t.ks_f16 = f16;
      t.c = GemmCase::kFullC, t.c_f16 = f16;
      t.act = make_act(nhwc ? 4 : 0);
      run_gemm(t);
    }
}

// The tensor-core kernel (float16 products, float32 accumulation): every block
// width (256 x 16, 128 x 32, 64 x 64) on sizes that leave partial blocks in m,
// n and K (K = 33: a partial K step; 70: three steps, the double buffer
// swapping), with each dtype pair it serves, both loader mappings of both
// operands (transposed or not), y transposed and padded, kscale (of either
// dtype, batch 1 and 2) staged on A (64 x 64) and on B, C, bias along either
// axis and every activation.
TEST_F(GraphKernelGemm, TensorCoreEveryWidth) {
  int i = 0;
  for (int tc : {1, 2, 4})
    for (int k : {33, 70})
      for (int dt = 0; dt < 3; ++dt) {
        GemmCase t;
        t.batch = 1 + i % 2, t.m = 65 + 130 * (tc == 1), t.n = 7 + 64 * (i % 2), t.k = k;
        t.tc = tc;
        t.a_f16 = dt != 1, t.b_f16 = dt != 0, t.y_f16 = true;
        t.a_t = i & 1, t.b_t = (i >> 1) & 1, t.y_t = i % 3 == 2;
        t.y_pad = i % 3;
        t.kscale = (i >> 2) & 1, t.ks_f16 = i % 3 != 1;  // i = 4..7, 12..15
        if (i % 3 != 1) t.c = GemmCase::kFullC, t.c_f16 = i % 2 == 1, t.beta = i % 2 ? -1.5f : 1.f;
        t.bias_axis = i % 3;
        t.alpha = i % 4 == 3 ? 0.75f : 1.f;
        t.act = make_act(i);
        run_gemm(t);
        ++i;
      }
}

// Pointwise convolutions of a float16 network as gemm() issues them (the
// float32 weights rounded to float16 while staged), on the tensor-core kernel.
TEST_F(GraphKernelGemm, TensorCorePointwiseConv) {
  for (bool nhwc : {false, true})
    for (int ci : {24, 96}) {
      const int batch = 2, co = 40, hw = 7 * 7;
      GemmCase t;
      t.batch = batch;
      t.tc = 0;
      if (!nhwc) {
        t.m = co, t.n = hw, t.k = ci;
        t.a_shared = true, t.b_f16 = true, t.bias_axis = 1;
      } else {
        t.m = hw, t.n = co, t.k = ci;
        t.a_f16 = true, t.b_shared = true, t.b_t = true, t.bias_axis = 2;
      }
      t.y_f16 = true;
      t.kscale = true, t.ks_f16 = true;
      t.c = GemmCase::kFullC, t.c_f16 = true;
      t.act = make_act(4);
      run_gemm(t);
    }
}

// The tensor-core kernel over several blocks in m and n of every width (m
// and n of 2 blocks and a part), batch 2 with one operand shared across the
// batch, K of one partial step (5) and of one half step (16), both loader
// mappings of each operand.
TEST_F(GraphKernelGemm, TensorCoreManyBlocks) {
  int i = 0;
  for (int tc : {1, 2, 4})
    for (bool a_rows_fast : {false, true}) {
      GemmCase t;
      t.batch = 2, t.m = 2 * (256 / tc) + 33, t.n = 2 * 16 * tc + 5, t.k = a_rows_fast ? 16 : 5;
      t.tc = tc;
      t.a_f16 = true, t.b_f16 = i % 3 == 1, t.y_f16 = true;
      t.a_t = a_rows_fast, t.b_t = !a_rows_fast;  // A [m][k] column-major: rows fastest
      t.a_shared = i % 2 == 0, t.b_shared = !t.a_shared;
      t.kscale = true, t.ks_f16 = true;
      t.bias_axis = 1 + i % 2;
      t.act = make_act(i);
      run_gemm(t);
      ++i;
    }
}

// K = 0: y = act(beta C + bias) on either kernel, the operands null (never
// read) while their strides are not.
TEST_F(GraphKernelGemm, KZeroIsTheEpilogueAlone) {
  int i = 0;
  for (int tc : {-1, 1, 4})
    for (bool trans : {false, true}) {
      GemmCase t;
      t.batch = 2, t.m = 37, t.n = 21, t.k = 0;
      t.tc = tc;
      t.a_f16 = t.y_f16 = tc >= 0 || trans;
      t.a_t = trans, t.b_t = !trans, t.y_t = trans;
      t.kscale = true, t.ks_f16 = t.y_f16;
      t.c = GemmCase::kFullC, t.c_f16 = !trans, t.beta = -1.5f;
      t.bias_axis = 1 + i % 2;
      t.act = make_act(i + 1);
      run_gemm(t);
      ++i;
    }
}

// Random problems (fixed seed) on every kernel: gemm()'s own choice, a forced
// CUDA-core tile, a forced tensor-core width (when y and an operand are
// float16); random sizes (K up to 100, K = 0 included), transposes, shared
// operands, dtypes, C, bias, kscale, alpha, beta, activation, y padding.
// XSEP_FUZZ_SEED=N draws another set (as the kernels' fuzz cases do).
TEST_F(GraphKernelGemm, Fuzz) {
  const char* env = std::getenv("XSEP_FUZZ_SEED");
  std::mt19937 rng(env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20261128u);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int i = 0; i < 64; ++i) {
    GemmCase t;
    t.batch = pick(1, 3), t.m = pick(1, 150), t.n = pick(1, 150), t.k = pick(0, 12) == 0 ? 0 : pick(1, 100);
    t.a_t = pick(0, 1), t.b_t = pick(0, 1), t.y_t = pick(0, 1);
    t.a_f16 = pick(0, 1), t.b_f16 = pick(0, 1), t.y_f16 = pick(0, 1);
    t.a_shared = pick(0, 3) == 0, t.b_shared = !t.a_shared && pick(0, 3) == 0;
    t.c = static_cast<decltype(t.c)>(pick(0, 4)), t.c_f16 = pick(0, 1);
    t.bias_axis = pick(0, 2);
    t.kscale = pick(0, 2) == 0, t.ks_f16 = pick(0, 1);
    t.act = make_act(pick(0, 5));
    t.alpha = pick(0, 1) ? 1.f : 0.75f, t.beta = pick(0, 1) ? 1.f : -1.5f;
    t.y_pad = pick(0, 2);
    const int kernel = pick(0, 2);  // 0: gemm(), 1: a CUDA-core tile, 2: a tensor-core width
    const int factors[] = {1, 2, 4};
    if (kernel == 1) t.tm = factors[pick(0, 2)], t.tn = factors[pick(0, 2)];
    if (kernel == 2 && t.y_f16 && (t.a_f16 || t.b_f16)) t.tc = factors[pick(0, 2)];
    run_gemm(t);
  }
}

// gemm() picks the tensor cores for a float16 output with a float16 operand
// when their grid has at least a block per SM of the device (132 on an H100 or
// H200, 40 on the emulated T4 of graph_kernels_t4), and runs them; float32
// stays on CUDA cores, and so does a float16 problem too small to fill the GPU.
TEST_F(GraphKernelGemm, TensorCoreChoice) {
  if (std::getenv("XSEP_GEMM_KERNEL") != nullptr) GTEST_SKIP() << "XSEP_GEMM_KERNEL overrides the choice";
  int device = 0, sms = 0;
  ASSERT_EQ(cudaGetDevice(&device), cudaSuccess);
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), cudaSuccess);
  ASSERT_GT(sms, 1);
  const OutArray y(1, true);
  const DevArray x = random_array(4, true);
  GemmArgs g;
  // NHWC pointwise with n = 16: the tensor-core blocks are 256 x 16 outputs,
  // so batch x ceil(m / 256) blocks.
  g.batch = 1, g.m = 256 * sms, g.n = 16, g.k = 8;  // a block per SM
  g.a = g.b = x.op();
  g.a_m = 8, g.a_k = 1, g.b_k = 1, g.b_n = 8;
  g.y = y.at(0), g.y_f16 = true, g.y_m = 16, g.y_n = 1;
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kTensorCore);
  g.m = 256 * (sms - 1) + 1;  // still sms blocks: the last one partial
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kTensorCore);
  g.m = 256 * (sms - 1);  // one block short
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kCudaCore);
  g.batch = 2, g.m = 256 * ((sms + 1) / 2);  // the batch counts: >= sms blocks
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kTensorCore);
  g.batch = 2, g.y_f16 = false;
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kCudaCore);
  EXPECT_EQ(gemm_tensor_core(g, 0, nullptr), kInvalidValue);  // float32 output
  g.y_f16 = true, g.a.f16 = g.b.f16 = false;
  EXPECT_EQ(gemm_kernel_choice(g), GemmKernelChoice::kCudaCore);
  EXPECT_EQ(gemm_tensor_core(g, 0, nullptr), kInvalidValue);  // no float16 operand
  g.a.f16 = true;
  EXPECT_EQ(gemm_tensor_core(g, 3, nullptr), kInvalidValue);  // no such width
  EXPECT_TRUE(matches(y, Expected(y.count)));                 // nothing written

  GemmCase t;  // the same problem through gemm(), checked
  t.batch = 2, t.m = 256 * 66, t.n = 16, t.k = 8;
  t.a_f16 = true, t.b_shared = true, t.b_t = true, t.y_f16 = true;
  t.bias_axis = 2, t.act = make_act(4);
  run_gemm(t);
}

// ---- conv2d -------------------------------------------------------------------------
class GraphKernelConv2d : public GraphKernelTest {};

struct ConvCase {
  int n, ci, h, w, co, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group;
};

void run_conv(const ConvCase& c, bool f16, bool nhwc, bool with_bias, const Act& act) {
  std::ostringstream d;
  d << "conv n" << c.n << " ci" << c.ci << " " << c.h << "x" << c.w << " co" << c.co << " k" << c.kh
    << "x" << c.kw << " s" << c.sh << "," << c.sw << " pads(t,l,b,r) " << c.pt << "," << c.pl << ","
    << c.pb << "," << c.pr << " d" << c.dh << "," << c.dw << " group" << c.group << " "
    << dname(f16) << (nhwc ? " nhwc" : " nchw") << (with_bias ? " bias" : "") << " act "
    << act_name(act);
  SCOPED_TRACE(d.str());
  const int ho = (c.h + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1;
  const int wo = (c.w + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1;
  const int cig = c.ci / c.group, cog = c.co / c.group;
  const DevArray x = random_array(size_t(c.n) * c.ci * c.h * c.w, f16);
  const DevArray w = weights(size_t(c.co) * cig * c.kh * c.kw);
  DevArray bias;
  if (with_bias) bias = weights(c.co);
  const size_t total = size_t(c.n) * c.co * ho * wo;
  const OutArray y(total + 16, f16);

  ConvArgs a;
  a.n = c.n, a.ci = c.ci, a.h = c.h, a.w = c.w, a.co = c.co, a.ho = ho, a.wo = wo;
  a.kh = c.kh, a.kw = c.kw, a.sh = c.sh, a.sw = c.sw, a.pt = c.pt, a.pl = c.pl;
  a.dh = c.dh, a.dw = c.dw, a.group = c.group;
  a.x = x.op();
  a.weights = w.f32();
  a.bias = with_bias ? bias.f32() : nullptr;
  a.act = act;
  a.y = y.at(0);
  a.y_f16 = f16;
  a.nhwc = nhwc;
  ASSERT_EQ(conv2d(a, nullptr), 0);

  auto xat = [&](int n, int ch, int ih, int iw) {
    return nhwc ? ((size_t(n) * c.h + ih) * c.w + iw) * c.ci + ch
                : ((size_t(n) * c.ci + ch) * c.h + ih) * c.w + iw;
  };
  Expected e(y.count);
  for (int n = 0; n < c.n; ++n)
    for (int co = 0; co < c.co; ++co)
      for (int oh = 0; oh < ho; ++oh)
        for (int ow = 0; ow < wo; ++ow) {
          double acc = with_bias ? bias.v[co] : 0.0;
          const int g = co / cog;
          for (int cc = 0; cc < cig; ++cc)
            for (int i = 0; i < c.kh; ++i)
              for (int j = 0; j < c.kw; ++j) {
                const int ih = oh * c.sh - c.pt + i * c.dh, iw = ow * c.sw - c.pl + j * c.dw;
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                acc += double(w.v[((size_t(co) * cig + cc) * c.kh + i) * c.kw + j]) *
                       x.v[xat(n, g * cig + cc, ih, iw)];
              }
          const size_t yo = nhwc ? ((size_t(n) * ho + oh) * wo + ow) * c.co + co
                                 : ((size_t(n) * c.co + co) * ho + oh) * wo + ow;
          e.set(int64_t(yo), ref_act(act, acc));
        }
  EXPECT_TRUE(matches(y, e));
}

TEST_F(GraphKernelConv2d, GroupsStridesDilationsPads) {
  const ConvCase cases[] = {
      // n ci  h   w co kh kw sh sw pt pl pb pr dh dw group
      {2, 5, 6, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // 1x1
      {1, 4, 9, 10, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   // 3x3 same
      {1, 3, 11, 12, 8, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 1},  // stem-like 3x3 s2, asymmetric pads
      {1, 4, 12, 11, 6, 5, 5, 1, 1, 4, 4, 4, 4, 2, 2, 2},  // 5x5 dilation 2, 2 groups
      {2, 6, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6},    // depthwise 3x3 s2
      {1, 4, 10, 9, 8, 5, 5, 1, 1, 2, 1, 3, 2, 2, 1, 4},   // depthwise x2 multiplier, dilation (2,1)
      {1, 4, 9, 13, 4, 5, 5, 2, 1, 2, 0, 1, 3, 1, 1, 2},   // 5x5 groups 2, stride (2,1)
      {1, 2, 5, 5, 3, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1},    // valid (no padding)
  };
  int i = 0;
  for (const ConvCase& c : cases)
    for (bool f16 : {false, true})
      for (bool nhwc : {false, true}) {
        run_conv(c, f16, nhwc, i % 3 != 2, make_act(i));
        ++i;
      }
}

// ---- elementwise --------------------------------------------------------------------
class GraphKernelElementwise : public GraphKernelTest {};

// Strides of a tensor of `shape` (1 on broadcast axes) stored with its axes
// in `order` (outermost first; empty: as listed). Broadcast axes get 0.
std::vector<int64_t> strides_of(const std::vector<int64_t>& shape, std::vector<int> order) {
  const int r = int(shape.size());
  if (order.empty())
    for (int d = 0; d < r; ++d) order.push_back(d);
  std::vector<int64_t> s(r, 0);
  int64_t step = 1;
  for (int i = r - 1; i >= 0; --i) {
    const int d = order[i];
    s[d] = shape[d] == 1 ? 0 : step;
    step *= shape[d];
  }
  return s;
}
int64_t count_of(const std::vector<int64_t>& shape) {
  int64_t c = 1;
  for (int64_t v : shape) c *= v;
  return c;
}

struct EltCase {
  std::vector<int64_t> dims;
  EltOp op;
  std::vector<int64_t> a_shape, b_shape;  // 1 where broadcast
  std::vector<int> a_order, y_order;      // storage order of a and y (empty: as listed)
  int act;
};

void run_elt(const EltCase& c, bool a_f16, bool b_f16, bool y_f16) {
  std::ostringstream d;
  d << "elt op" << int(c.op) << " dims";
  for (auto v : c.dims) d << " " << v;
  d << " a:" << dname(a_f16) << " b:" << dname(b_f16) << " y:" << dname(y_f16) << " act "
    << act_name(make_act(c.act));
  SCOPED_TRACE(d.str());
  const int rank = int(c.dims.size());
  const bool binary = c.op != EltOp::kCopy;
  const DevArray a = random_array(size_t(count_of(c.a_shape)), a_f16);
  DevArray b, addend;
  if (binary) b = random_array(size_t(count_of(c.b_shape)), b_f16);
  if (c.op == EltOp::kMulAdd) addend = random_array(size_t(count_of(c.b_shape)), b_f16);  // b's shape
  const auto as = strides_of(c.a_shape, c.a_order);
  const auto bs = binary ? strides_of(c.b_shape, {}) : std::vector<int64_t>(rank, 0);
  const auto ys = strides_of(c.dims, c.y_order);
  const int64_t total = count_of(c.dims);
  const OutArray y(size_t(total) + 16, y_f16);

  EltArgs e;
  e.rank = rank;
  for (int i = 0; i < rank; ++i) {
    e.dims[i] = c.dims[i];
    e.a_stride[i] = as[i];
    e.b_stride[i] = bs[i];
    e.y_stride[i] = ys[i];
  }
  e.op = c.op;
  e.a = a.op();
  if (binary) e.b = b.op();
  if (c.op == EltOp::kMulAdd) e.c = addend.op();
  e.act = make_act(c.act);
  e.y = y.at(0);
  e.y_f16 = y_f16;
  ASSERT_EQ(elementwise(e, nullptr), 0);

  Expected ex(y.count);
  std::vector<int64_t> idx(rank, 0);
  for (int64_t f = 0; f < total; ++f) {
    int64_t t = f, oa = 0, ob = 0, oy = 0;
    for (int dd = rank - 1; dd >= 0; --dd) {
      const int64_t v = t % c.dims[dd];
      t /= c.dims[dd];
      oa += v * as[dd], ob += v * bs[dd], oy += v * ys[dd];
    }
    double v = a.v[size_t(oa)];
    if (c.op == EltOp::kAdd) v += b.v[size_t(ob)];
    if (c.op == EltOp::kMul) v *= b.v[size_t(ob)];
    if (c.op == EltOp::kMulAdd) v = v * b.v[size_t(ob)] + addend.v[size_t(ob)];
    ex.set(oy, ref_act(e.act, v));
  }
  EXPECT_TRUE(matches(y, ex));
}

TEST_F(GraphKernelElementwise, BroadcastRanks1To6) {
  const EltCase cases[] = {
      {{37}, EltOp::kAdd, {37}, {1}, {}, {}, 0},                              // + scalar
      {{3, 40}, EltOp::kMul, {3, 40}, {1, 40}, {}, {}, 1},                    // row broadcast
      {{2, 3, 5}, EltOp::kAdd, {2, 3, 5}, {2, 1, 5}, {}, {}, 4},              // middle axis
      {{2, 6, 4, 5}, EltOp::kAdd, {2, 6, 4, 5}, {1, 6, 1, 1}, {}, {}, 4},     // per channel (NCHW)
      {{2, 4, 5, 6}, EltOp::kMul, {2, 4, 5, 6}, {2, 1, 1, 6}, {}, {}, 5},     // SE scale (NHWC)
      {{2, 3, 2, 3, 4}, EltOp::kMul, {2, 1, 2, 3, 1}, {1, 3, 2, 1, 4}, {}, {}, 2},  // both broadcast
      {{2, 1, 3, 2, 2, 3}, EltOp::kAdd, {2, 1, 3, 2, 2, 3}, {1, 1, 3, 1, 2, 1}, {}, {}, 3},
      {{2, 6, 4, 5}, EltOp::kMulAdd, {2, 6, 4, 5}, {1, 6, 1, 1}, {}, {}, 2},  // BatchNorm (NCHW)
      {{2, 4, 5, 6}, EltOp::kMulAdd, {2, 4, 5, 6}, {1, 1, 1, 6}, {}, {}, 0},  // BatchNorm (NHWC)
      {{3, 7}, EltOp::kMulAdd, {3, 7}, {3, 1}, {}, {}, 4},                    // rank 2, per row
      {{3, 7}, EltOp::kCopy, {3, 7}, {}, {}, {}, 4},                          // activation only
      {{2, 5}, EltOp::kCopy, {1, 5}, {}, {}, {}, 0},                          // expand
  };
  int i = 0;
  for (const EltCase& c : cases) {
    for (bool f16 : {false, true}) run_elt(c, f16, f16, f16);
    run_elt(c, i % 2 == 0, i % 2 == 1, i % 3 == 0);  // mixed dtypes
    ++i;
  }
}

// Layout conversion by copy: NCHW -> NHWC and back, dtype conversions.
TEST_F(GraphKernelElementwise, LayoutConversion) {
  const std::vector<int64_t> dims = {2, 5, 4, 7};  // N C H W
  const EltCase to_nhwc = {dims, EltOp::kCopy, dims, {}, {}, {0, 2, 3, 1}, 0};
  const EltCase to_nchw = {dims, EltOp::kCopy, dims, {}, {0, 2, 3, 1}, {}, 1};
  for (bool f16 : {false, true}) {
    run_elt(to_nhwc, f16, false, f16);
    run_elt(to_nchw, f16, false, f16);
  }
  run_elt(to_nhwc, false, false, true);  // float32 NCHW -> float16 NHWC
  run_elt(to_nchw, true, false, false);  // float16 NHWC -> float32 NCHW
}

// Concat along channels (NHWC) by two copies into slices of y, and Split
// (NCHW) by a copy from a slice of x: pointer offsets select the slice.
TEST_F(GraphKernelElementwise, ConcatAndSliceCopies) {
  for (bool f16 : {false, true}) {
    SCOPED_TRACE(dname(f16));
    const int n = 2, h = 3, w = 4, c1 = 5, c2 = 3, c = c1 + c2;
    const DevArray x1 = random_array(size_t(n) * h * w * c1, f16);
    const DevArray x2 = random_array(size_t(n) * h * w * c2, f16);
    const OutArray y(size_t(n) * h * w * c + 8, f16);
    Expected ex(y.count);
    const int parts[2] = {c1, c2};
    const DevArray* srcs[2] = {&x1, &x2};
    int c0 = 0;
    for (int p = 0; p < 2; ++p) {
      const int cp = parts[p];
      EltArgs e;
      e.rank = 4;
      const int64_t dims[4] = {n, h, w, cp};
      const int64_t as[4] = {int64_t{h} * w * cp, int64_t{w} * cp, cp, 1};
      const int64_t ys[4] = {int64_t{h} * w * c, int64_t{w} * c, c, 1};
      for (int i = 0; i < 4; ++i) e.dims[i] = dims[i], e.a_stride[i] = as[i], e.y_stride[i] = ys[i];
      e.op = EltOp::kCopy;
      e.a = srcs[p]->op();
      e.y = y.at(c0);
      e.y_f16 = f16;
      ASSERT_EQ(elementwise(e, nullptr), 0);
      for (int ni = 0; ni < n; ++ni)
        for (int hi = 0; hi < h; ++hi)
          for (int wi = 0; wi < w; ++wi)
            for (int ci = 0; ci < cp; ++ci)
              ex.set(((int64_t{ni} * h + hi) * w + wi) * c + c0 + ci,
                     srcs[p]->v[((size_t(ni) * h + hi) * w + wi) * cp + ci]);
      EXPECT_TRUE(matches(y, ex)) << "after part " << p;  // the other slice still poisoned
      c0 += cp;
    }

    // Split: channels [2, 6) of an NCHW [n][c][h][w] tensor.
    const DevArray x = random_array(size_t(n) * c * h * w, f16);
    const int s0 = 2, sc = 4;
    const OutArray ys(size_t(n) * sc * h * w + 8, f16);
    EltArgs e;
    e.rank = 4;
    const int64_t dims[4] = {n, sc, h, w};
    const int64_t as[4] = {int64_t{c} * h * w, int64_t{h} * w, w, 1};
    const int64_t yst[4] = {int64_t{sc} * h * w, int64_t{h} * w, w, 1};
    for (int i = 0; i < 4; ++i) e.dims[i] = dims[i], e.a_stride[i] = as[i], e.y_stride[i] = yst[i];
    e.a = x.op(int64_t{s0} * h * w);
    e.y = ys.at(0);
    e.y_f16 = f16;
    ASSERT_EQ(elementwise(e, nullptr), 0);
    Expected es(ys.count);
    for (int ni = 0; ni < n; ++ni)
      for (int ci = 0; ci < sc; ++ci)
        for (int p = 0; p < h * w; ++p)
          es.set((int64_t{ni} * sc + ci) * h * w + p, x.v[(size_t(ni) * c + s0 + ci) * h * w + p]);
    EXPECT_TRUE(matches(ys, es));
  }
}

// ---- global average pooling ------------------------------------------------------------
class GraphKernelGap : public GraphKernelTest {};

void run_gap(int n, int c, int hw, bool nhwc, bool x_f16, bool y_f16) {
  std::ostringstream d;
  d << "gap n" << n << " c" << c << " hw" << hw << (nhwc ? " nhwc" : " nchw") << " x:" << dname(x_f16)
    << " y:" << dname(y_f16);
  SCOPED_TRACE(d.str());
  const DevArray x = random_array(size_t(n) * c * hw, x_f16, -0.5f, 1.5f);
  const int64_t y_n = c + 3;  // padded rows: the gaps must stay poisoned
  const OutArray y(size_t(n * y_n) + 8, y_f16);
  GapArgs a;
  a.n = n, a.c = c, a.hw = hw;
  a.x = x.op();
  a.x_n = int64_t{c} * hw;
  a.x_c = nhwc ? 1 : hw;
  a.x_p = nhwc ? c : 1;
  a.y = y.at(0);
  a.y_f16 = y_f16;
  a.y_n = y_n;
  a.y_c = 1;
  ASSERT_EQ(global_avg_pool(a, nullptr), 0);
  Expected e(y.count);
  for (int ni = 0; ni < n; ++ni)
    for (int ci = 0; ci < c; ++ci) {
      double s = 0;
      for (int p = 0; p < hw; ++p) s += x.v[size_t(ni * a.x_n + ci * a.x_c + p * a.x_p)];
      e.set(ni * y_n + ci, s / hw);
    }
  EXPECT_TRUE(matches(y, e));
}

TEST_F(GraphKernelGap, Spatial1x1And7x7And56x56) {
  for (int hw : {1, 49, 56 * 56})
    for (bool nhwc : {false, true})
      for (bool f16 : {false, true}) run_gap(2, hw == 1 ? 40 : 5, hw, nhwc, f16, f16);
  run_gap(1, 40, 49, false, true, false);  // f16 in, f32 out
  run_gap(1, 37, 49, true, false, true);   // f32 in, f16 out; a partial channel block
}

// ---- SE fully-connected layers --------------------------------------------------------
class GraphKernelSeFc : public GraphKernelTest {};

void run_se(int n, int c, int mid, bool f16, bool biases) {
  std::ostringstream d;
  d << "se_fc n" << n << " c" << c << " mid" << mid << " " << dname(f16)
    << (biases ? " biases" : " no biases");
  SCOPED_TRACE(d.str());
  const DevArray g = random_array(size_t(n) * c, f16, 0.f, 1.5f);  // pooled activations
  const DevArray w1 = weights(size_t(mid) * c, -0.5f, 0.5f), w2 = weights(size_t(c) * mid, -1.f, 1.f);
  DevArray b1, b2;
  if (biases) b1 = weights(mid, -0.2f, 0.5f), b2 = weights(c);
  const OutArray s(size_t(n) * c + 8, f16);
  SeArgs a;
  a.n = n, a.c = c, a.mid = mid;
  a.g = g.op();
  a.w1 = w1.f32();
  a.b1 = biases ? b1.f32() : nullptr;
  a.act1.kind = ActKind::kRelu;
  a.w2 = w2.f32();
  a.b2 = biases ? b2.f32() : nullptr;
  a.act2.kind = ActKind::kHardSigmoid;
  a.act2.alpha = 1.f / 6.f;
  a.act2.beta = 0.5f;
  a.s = s.at(0);
  a.s_f16 = f16;
  ASSERT_EQ(se_fc(a, nullptr), 0);
  Expected e(s.count);
  for (int ni = 0; ni < n; ++ni) {
    std::vector<double> hv(mid);
    for (int j = 0; j < mid; ++j) {
      double acc = biases ? b1.v[j] : 0.0;
      for (int ci = 0; ci < c; ++ci) acc += double(w1.v[size_t(j) * c + ci]) * g.v[size_t(ni) * c + ci];
      hv[j] = ref_act(a.act1, acc);
    }
    for (int ci = 0; ci < c; ++ci) {
      double acc = biases ? b2.v[ci] : 0.0;
      for (int j = 0; j < mid; ++j) acc += double(w2.v[size_t(ci) * mid + j]) * hv[j];
      e.set(int64_t{ni} * c + ci, ref_act(a.act2, acc));
    }
  }
  EXPECT_TRUE(matches(s, e));
}

TEST_F(GraphKernelSeFc, Mid8AndMobileNetSizes) {
  int i = 0;
  for (int c : {16, 40, 96})
    for (bool f16 : {false, true}) run_se(2, c, 8, f16, i++ % 3 != 1);
  run_se(1, 96, 24, false, true);
  run_se(1, 576, 144, true, true);  // MobileNetV3-Small's largest SE
}

// ---- argument handling ------------------------------------------------------------------
class GraphKernelArgs : public GraphKernelTest {};

TEST_F(GraphKernelArgs, EmptyIsANoOpAndBadArgumentsAreRejected) {
  const OutArray y(4, false);
  GemmArgs g;  // m = n = 0: nothing to do
  g.y = y.at(0);
  EXPECT_EQ(gemm(g, nullptr), 0);
  const DevArray a = random_array(4, false);
  g.m = g.n = g.k = 2;
  g.a = g.b = a.op();
  g.a_m = g.b_k = 2, g.a_k = g.b_n = 1;
  g.y_m = 2, g.y_n = 1;
  g.bias = a.f32();
  g.bias_axis = 0;  // a bias without an axis
  EXPECT_NE(gemm(g, nullptr), 0);
  EXPECT_NE(gemm_with_tile(g, 3, 1, nullptr), 0);
  ConvArgs cv;  // a valid 1x1 conv of an empty batch
  cv.ci = cv.h = cv.w = cv.co = cv.ho = cv.wo = cv.kh = cv.kw = 1;
  EXPECT_EQ(conv2d(cv, nullptr), 0);
  cv.n = 1;
  EXPECT_NE(conv2d(cv, nullptr), 0);  // x, weights and y null
  cv.x = a.op(), cv.weights = a.f32(), cv.y = y.at(0), cv.group = 2;
  EXPECT_NE(conv2d(cv, nullptr), 0);  // 1 channel in 2 groups
  EltArgs e;
  e.rank = 7;
  EXPECT_NE(elementwise(e, nullptr), 0);
  Expected untouched(y.count);
  EXPECT_TRUE(matches(y, untouched));
}

}  // namespace
