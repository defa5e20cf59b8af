// The device operators (xsep_dwconv2x2 ... xsep_xsepconv) against the naive C
// reference on random data: every operator x dtype x layout x K x stride x pad
// mode, epilogues and edge shapes cycled through the matrix. Outputs are
// poisoned with NaN before each call and a guard band after y must survive.
// The NaN cases put NaN in x: it must reach y where the reference says
// (outputs poisoned with a finite value there).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/device_buffer.h"
#include "support/tensor_check.h"
#include "xsep/reference.h"
#include "xsep/xsep.h"

namespace {

using xsep_test::DeviceBuffer;

enum class Op { k2x2, k1xK, kKx1, kKxK, kXSep };
const char* kOpNames[] = {"Dwconv2x2", "Dwconv1xK", "DwconvKx1", "DwconvKxK", "XSepConv"};
const char* kPadNames[] = {"tl", "tr", "bl", "br", "sym"};

struct Shape {
  int n, c, h, w;
};
// Edge shapes: 1x1, C = 1, odd C (no vector path), C a multiple of 8 (vector
// path for both dtypes), C > 32 (several channel blocks), H or W < K, planes
// wider / taller than one tile.
// The last six only in the extra cases at the end of the matrix: tall and
// wide planes, for the row-streaming XSepConv kernel's row chunks, several
// row groups per chunk (ring buffers wrapping) and several column strips; a
// plane larger than every filter up to K = 31, so that each tap meets data;
// and a single row and a single column wider / taller than K (H = 1 or W = 1
// with the other side > 1: the only other 1-wide planes are 1x1 and, in the
// fuzz cases, NCHW ones).
const Shape kShapes[] = {{1, 1, 1, 1},  {2, 3, 5, 7},  {1, 16, 9, 8},  {1, 9, 13, 11},
                         {1, 40, 6, 5}, {1, 2, 3, 70}, {2, 8, 17, 19}, {1, 5, 33, 3},
                         {1, 32, 70, 20}, {1, 3, 70, 140}, {1, 8, 12, 140}, {2, 24, 36, 34},
                         {2, 16, 1, 37},  {1, 16, 29, 1}};
constexpr int kNumShapes = 8;  // the shapes the matrix cycles through

struct Case {
  Op op;
  xsep_dtype dtype;
  xsep_layout layout;
  int k, stride;
  xsep_pad pad;
  int shape;     // index into kShapes
  int epilogue;  // 0..7: activation = e % 4, scale and bias present by bit 2 (see run_case)
  int x_offset;  // elements x is shifted by (1: misaligned, scalar path)
  Shape dims{};  // a fuzz case's own shape (n > 0), else kShapes[shape]
  bool nan_x = false;  // NaN at two elements of x (nan_cases)
  bool null_ep = false;  // ep == NULL (the identity) for the single operators
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string s = kOpNames[static_cast<int>(c.op)];
  s += c.dtype == XSEP_DTYPE_F32 ? "_f32" : "_f16";
  s += c.layout == XSEP_LAYOUT_NCHW ? "_nchw" : "_nhwc";
  if (c.op != Op::k2x2) s += "_k" + std::to_string(c.k) + "_s" + std::to_string(c.stride);
  if (c.op == Op::k2x2 || c.op == Op::kXSep) s += std::string("_") + kPadNames[c.pad];
  if (c.dims.n > 0)
    s += "_fuzz" + std::to_string(c.shape) + "_" + std::to_string(c.dims.n) + "x" + std::to_string(c.dims.c) +
         "x" + std::to_string(c.dims.h) + "x" + std::to_string(c.dims.w);
  else
    s += "_shape" + std::to_string(c.shape);
  s += "_ep" + std::to_string(c.epilogue);
  if (c.x_offset) s += "_misaligned";
  if (c.nan_x) s += "_nan";
  if (c.null_ep) s += "_noep";
  return s;
}

// Builds the matrix; `counter` cycles shapes and epilogues so that every value
// of each meets many of the others without a full cross product. The strides
// alternate with the counter, so shape and epilogue also mix in i / 2 and
// i / 4: with i % 8 and 3i % 8 alone, stride 1 met only the even shapes and
// two activations, stride 2 only the odd shapes (never the vector path) and
// the other two. Now every (operator, stride) meets all 8 shapes and all 4
// activations, and every dtype and layout all 8 shapes.
std::vector<Case> full_matrix() {
  std::vector<Case> cases;
  int counter = 0;
  auto add = [&](Op op, xsep_dtype dt, xsep_layout lay, int k, int s, xsep_pad pad) {
    const int i = counter++;
    cases.push_back(Case{op, dt, lay, k, s, pad, (i + i / 2) % kNumShapes, (i * 3 + i / 4) % 8, 0});
  };
  const xsep_dtype dtypes[] = {XSEP_DTYPE_F32, XSEP_DTYPE_F16};
  const xsep_layout layouts[] = {XSEP_LAYOUT_NCHW, XSEP_LAYOUT_NHWC};
  std::vector<int> ks;  // every odd K the API takes: 1, 3, ..., 31
  for (int k = 1; k <= 31; k += 2) ks.push_back(k);
  for (xsep_dtype dt : dtypes)
    for (xsep_layout lay : layouts) {
      for (int p = 0; p <= XSEP_PAD_SYMMETRIC; ++p)
        for (int rep = 0; rep < 2; ++rep) add(Op::k2x2, dt, lay, 2, 1, static_cast<xsep_pad>(p));
      for (Op op : {Op::k1xK, Op::kKx1, Op::kKxK})
        for (int k : ks)
          for (int s : {1, 2}) add(op, dt, lay, k, s, XSEP_PAD_TOP_LEFT);
      for (int k : ks)
        for (int s : {1, 2})
          for (int p = 0; p <= XSEP_PAD_SYMMETRIC; ++p) add(Op::kXSep, dt, lay, k, s, static_cast<xsep_pad>(p));
    }
  // The row-streaming fused kernel (the default for NHWC with K >= 11) has a
  // compile-time kernel for every odd K up to 31: each once more on the 36 x 34
  // plane, where (unlike the small shapes the loop above cycles through) the
  // outer taps do not multiply zeros only.
  for (int k = 11; k <= 31; k += 2) {
    for (xsep_dtype dt : dtypes)
      for (int s : {1, 2}) {
        const int i = counter++;
        cases.push_back(Case{Op::kXSep, dt, XSEP_LAYOUT_NHWC, k, s, static_cast<xsep_pad>(i % 5), 11, (i * 3) % 8, 0});
      }
  }
  // Pointers with only element alignment take the scalar path.
  for (xsep_dtype dt : dtypes)
    for (Op op : {Op::k2x2, Op::kKxK, Op::kXSep})
      cases.push_back(Case{op, dt, XSEP_LAYOUT_NHWC, op == Op::k2x2 ? 2 : 5, 1, XSEP_PAD_SYMMETRIC, 2, 5, 1});
  // Tall and wide planes for the fused block.
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 31, 1, XSEP_PAD_SYMMETRIC, 8, 7, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 7, 2, XSEP_PAD_TOP_RIGHT, 9, 3, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 5, 1, XSEP_PAD_BOTTOM_LEFT, 10, 6, 0});
  // One row (2 x 16 x 1 x 37) and one column (1 x 16 x 29 x 1), at stride 2:
  // the fused kernels on each (tiled in f16 NHWC at K = 5 and in f32 NCHW,
  // row-streaming in NHWC at K = 13) and a single pass across the 1-wide side.
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 5, 2, XSEP_PAD_TOP_LEFT, 12, 1, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 13, 2, XSEP_PAD_SYMMETRIC, 12, 6, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 7, 2, XSEP_PAD_BOTTOM_RIGHT, 12, 3, 0});
  cases.push_back(Case{Op::kKx1, XSEP_DTYPE_F16, XSEP_LAYOUT_NCHW, 7, 2, XSEP_PAD_TOP_LEFT, 12, 5, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 13, 2, XSEP_PAD_BOTTOM_LEFT, 13, 7, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 5, 2, XSEP_PAD_SYMMETRIC, 13, 2, 0});
  cases.push_back(Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 9, 2, XSEP_PAD_TOP_RIGHT, 13, 5, 0});
  cases.push_back(Case{Op::k1xK, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 5, 2, XSEP_PAD_TOP_LEFT, 13, 4, 0});
  cases.push_back(Case{Op::kKxK, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 5, 2, XSEP_PAD_TOP_LEFT, 12, 0, 0});
  // NCHW Kx1 at stride 1 on 70 rows: 32-row tiles balanced to 3 x 24.
  cases.push_back(Case{Op::kKx1, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 7, 1, XSEP_PAD_TOP_LEFT, 8, 3, 0});
  // ep == NULL: the identity epilogue, for each single operator.
  for (Op op : {Op::k2x2, Op::k1xK, Op::kKx1, Op::kKxK}) {
    Case c{op, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, op == Op::k2x2 ? 2 : 5, 1, XSEP_PAD_BOTTOM_RIGHT, 6, 0, 0};
    c.null_ep = true;
    cases.push_back(c);
  }
  return cases;
}

// A few configurations that exercise every shared-memory phase, for the
// ThreadSanitizer run (a race on shared memory must fail it).
std::vector<Case> race_subset() {
  return {
      Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 5, 1, XSEP_PAD_SYMMETRIC, 6, 7, 0},
      Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 7, 2, XSEP_PAD_TOP_RIGHT, 4, 3, 0},
      Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 13, 1, XSEP_PAD_BOTTOM_LEFT, 2, 1, 0},
      Case{Op::kXSep, XSEP_DTYPE_F16, XSEP_LAYOUT_NHWC, 9, 1, XSEP_PAD_SYMMETRIC, 8, 5, 0},
      Case{Op::kKxK, XSEP_DTYPE_F16, XSEP_LAYOUT_NCHW, 3, 2, XSEP_PAD_TOP_LEFT, 6, 2, 0},
      Case{Op::kKx1, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 9, 1, XSEP_PAD_TOP_LEFT, 4, 6, 0},
      Case{Op::k2x2, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 2, 1, XSEP_PAD_SYMMETRIC, 4, 4, 0},
      // C = 3: tile_c = 3 does not divide the 256 threads; the 256 % 3 threads left
      // over must not repeat another thread's work (duplicate writes are a race).
      Case{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 5, 1, XSEP_PAD_SYMMETRIC, 9, 2, 0},
  };
}

// A wider race check for ThreadSanitizer (CTest kernels_race_wide; the
// emulator's threads engine there): every operator, dtype and layout, at
// compile-time and run-time K, both strides, on multi-block shapes. Kept out
// of KernelRace, which compute-sanitizer's racecheck also runs on the GPU,
// where time is scarce.
std::vector<Case> race_wide() {
  std::vector<Case> cases;
  int counter = 0;
  const int shapes[] = {2, 3, 4, 6};
  auto add = [&](Op op, xsep_dtype dt, xsep_layout lay, int k, int s) {
    const int i = counter++;
    const xsep_pad pad = op == Op::k2x2 || op == Op::kXSep ? static_cast<xsep_pad>(i % 5) : XSEP_PAD_TOP_LEFT;
    cases.push_back(Case{op, dt, lay, k, s, pad, shapes[i % 4], (i * 3) % 8, 0});
  };
  for (xsep_dtype dt : {XSEP_DTYPE_F32, XSEP_DTYPE_F16})
    for (xsep_layout lay : {XSEP_LAYOUT_NCHW, XSEP_LAYOUT_NHWC}) {
      add(Op::k2x2, dt, lay, 2, 1);
      for (Op op : {Op::k1xK, Op::kKx1, Op::kKxK})
        for (int k : {5, 13}) add(op, dt, lay, k, 1 + counter % 2);
      for (int k : {3, 7, 11, 15, 31}) add(Op::kXSep, dt, lay, k, 1 + counter % 2);
    }
  return cases;
}

// Random cases beyond the matrix's fixed shapes: any operator, dtype, layout,
// pad mode, stride and odd K up to 31, with n <= 3, C <= 100 and planes up to
// 120 x 120 (at most 60000 elements, for the emulator's sake), misaligned 1 in
// 8 times. The seed is fixed, so a failure reproduces; XSEP_FUZZ_SEED=N draws
// another set (the names carry the shapes, so a failure names its case).
std::vector<Case> fuzz_cases() {
  const char* env = std::getenv("XSEP_FUZZ_SEED");
  std::mt19937 rng(env != nullptr ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20261128u);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<Case> cases;
  for (int i = 0; i < 640; ++i) {
    Case c{};
    const int op = pick(0, 6);  // the fused block twice as often as each single pass
    c.op = op >= 4 ? Op::kXSep : static_cast<Op>(op);
    c.dtype = pick(0, 1) ? XSEP_DTYPE_F16 : XSEP_DTYPE_F32;
    c.layout = pick(0, 1) ? XSEP_LAYOUT_NHWC : XSEP_LAYOUT_NCHW;
    c.k = c.op == Op::k2x2 ? 2 : pick(0, 4) < 3 ? 2 * pick(0, 4) + 1 : 2 * pick(5, 15) + 1;
    c.stride = c.op == Op::k2x2 ? 1 : pick(1, 2);
    c.pad = static_cast<xsep_pad>(c.op == Op::k2x2 || c.op == Op::kXSep ? pick(0, XSEP_PAD_SYMMETRIC) : 0);
    c.shape = i;
    c.epilogue = pick(0, 7);
    c.x_offset = pick(0, 7) == 0 ? 1 : 0;
    Shape d{pick(1, 3), pick(0, 1) ? pick(1, 40) : pick(1, 100), pick(1, 120), pick(1, 120)};
    while (int64_t{d.n} * d.c * d.h * d.w > 60000) {
      if (d.c > 8) d.c = (d.c + 1) / 2;
      else if (d.n > 1) --d.n;
      else d.h = (d.h + 1) / 2;
    }
    c.dims = d;
    cases.push_back(c);
  }
  return cases;
}

// NaN in x (channel C/2 of image 0 at the centre of the plane, channel 0 of
// image 1 at the top-left corner): every operator, dtype, layout, a
// register-tap K and a large K, both strides, the activations in turn. On the
// 2 x 24 x 36 x 34 plane NaN reaches part of y and leaves the rest finite.
std::vector<Case> nan_cases() {
  std::vector<Case> cases;
  int counter = 0;
  auto add = [&](Op op, xsep_dtype dt, xsep_layout lay, int k, int s, xsep_pad pad) {
    const int i = counter++;
    Case c{op, dt, lay, k, s, pad, 11, 1 + i % 7, 0};
    c.nan_x = true;
    cases.push_back(c);
  };
  for (xsep_dtype dt : {XSEP_DTYPE_F32, XSEP_DTYPE_F16})
    for (xsep_layout lay : {XSEP_LAYOUT_NCHW, XSEP_LAYOUT_NHWC}) {
      add(Op::k2x2, dt, lay, 2, 1, XSEP_PAD_SYMMETRIC);
      for (Op op : {Op::k1xK, Op::kKx1, Op::kKxK, Op::kXSep})
        for (int k : {3, 13})
          for (int s : {1, 2}) add(op, dt, lay, k, s, static_cast<xsep_pad>(counter % 5));
    }
  return cases;
}

class KernelTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!xsep_test::have_device())
      GTEST_SKIP() << "no CUDA device: the kernel tests need a GPU in the CUDA build "
                      "(the emulated build, XSEP_DEVICE=emu, runs them on the CPU)";
  }
};

int64_t strided(int64_t n, int s) { return (n - 1) / s + 1; }

void run_case(const Case& c) {
  const Shape sh = c.dims.n > 0 ? c.dims : kShapes[c.shape];
  const xsep_tensor_desc desc{sh.n, sh.c, sh.h, sh.w, c.dtype, c.layout};
  const bool strides_h = c.op == Op::kKx1 || c.op == Op::kKxK || c.op == Op::kXSep;
  const bool strides_w = c.op == Op::k1xK || c.op == Op::kKxK || c.op == Op::kXSep;
  const int64_t ho = strides_h ? strided(sh.h, c.stride) : sh.h;
  const int64_t wo = strides_w ? strided(sh.w, c.stride) : sh.w;
  const size_t x_elems = size_t(sh.n) * sh.c * sh.h * sh.w;
  const size_t y_elems = size_t(sh.n) * sh.c * ho * wo;
  const size_t esz = c.dtype == XSEP_DTYPE_F32 ? 4 : 2;
  const uint32_t seed = static_cast<uint32_t>(c.shape * 7919 + c.k * 131 + c.stride * 17 +
                                              static_cast<int>(c.op) * 3 + c.pad);

  // Inputs: x rounded to the I/O type once; the reference reads the same bytes.
  std::vector<float> x_values = xsep_test::random_floats(x_elems, -1.f, 1.f, seed);
  if (c.nan_x) {
    auto at = [&](int n, int ch, int h, int w) {
      return c.layout == XSEP_LAYOUT_NCHW ? ((size_t(n) * sh.c + ch) * sh.h + h) * sh.w + w
                                          : ((size_t(n) * sh.h + h) * sh.w + w) * sh.c + ch;
    };
    x_values[at(0, sh.c / 2, sh.h / 2, sh.w / 2)] = NAN;
    x_values[at(sh.n - 1, 0, 0, 0)] = NAN;
  }
  const std::vector<unsigned char> x_host = xsep_test::encode(x_values, c.dtype);
  const int taps2 = 4, tapsk = c.op == Op::kKxK ? c.k * c.k : c.k;
  auto weights = [&](int taps, uint32_t s) {
    std::vector<float> w = xsep_test::random_floats(size_t(sh.c) * taps, -1.f, 1.f, s);
    for (float& v : w) v /= std::sqrt(static_cast<float>(taps));
    return w;
  };
  const std::vector<float> w_main = weights(c.op == Op::k2x2 ? taps2 : tapsk, seed + 1);
  const std::vector<float> w2x2 = weights(taps2, seed + 2), w1xk = weights(c.k, seed + 3),
                           wkx1 = weights(c.k, seed + 4);
  // Epilogue parameters, one set per XSepConv pass (a pass reading another's
  // pointers must show). Wide enough that the pre-activation values (|conv| up
  // to ~1.7) pass ReLU6's cap and hard-swish's corners at -3 and +3.
  std::vector<float> scale[3], bias[3];
  for (uint32_t p = 0; p < 3; ++p) {
    scale[p] = xsep_test::random_floats(sh.c, 0.5f, 4.5f, seed + 5 + 2 * p);
    bias[p] = xsep_test::random_floats(sh.c, -3.f, 3.f, seed + 6 + 2 * p);
  }

  // Device copies. x sits x_offset elements into its buffer, after NaN (so a
  // read before x shows; zeros would pass for padding); y has guard bands.
  DeviceBuffer x_dev((x_elems + c.x_offset) * esz);
  std::vector<unsigned char> x_padded(x_dev.bytes(), 0xFF);
  std::memcpy(x_padded.data() + c.x_offset * esz, x_host.data(), x_host.size());
  x_dev.upload(x_padded);
  const void* x_ptr = x_dev.as<unsigned char>() + c.x_offset * esz;
  constexpr size_t kGuard = 256;
  DeviceBuffer y_dev(kGuard + y_elems * esz + kGuard);
  // Poison: NaN in both dtypes; with NaN inputs a finite value (0x7B7B7B7B =
  // 1.3e36 as float32, 0x7B7B = 61280 as float16), so that an unwritten
  // element cannot pass for a propagated NaN.
  const unsigned char poison = c.nan_x ? 0x7B : 0xFF;
  y_dev.fill_bytes(poison);
  DeviceBuffer wm(w_main.size() * 4), w2(w2x2.size() * 4), w1(w1xk.size() * 4), wk(wkx1.size() * 4);
  wm.upload(w_main);
  w2.upload(w2x2);
  w1.upload(w1xk);
  wk.upload(wkx1);
  const size_t cb = size_t(sh.c) * 4;
  DeviceBuffer sc[3]{DeviceBuffer(cb), DeviceBuffer(cb), DeviceBuffer(cb)};
  DeviceBuffer bi[3]{DeviceBuffer(cb), DeviceBuffer(cb), DeviceBuffer(cb)};
  for (int p = 0; p < 3; ++p) {
    sc[p].upload(scale[p]);
    bi[p].upload(bias[p]);
  }

  // Epilogue e of pass p: activation e % 4; bit 2 set: scale and bias present;
  // clear: neither, the scale alone or the bias alone, by K, shape and pass, so
  // that each operator meets all four (a kernel that ignored a scale without a
  // bias, or the reverse, passed while the two came only together). The
  // XSepConv passes get three different ones.
  auto epilogue = [&](int e, bool host, int p = 0) {
    const int kind = (e & 4) != 0 ? 3 : (c.k / 2 + c.shape + p) % 3;  // 0 neither, 1 scale, 2 bias, 3 both
    const bool has_scale = kind == 1 || kind == 3, has_bias = kind >= 2;
    return xsep_epilogue{has_scale ? (host ? scale[p].data() : sc[p].as<float>()) : nullptr,
                         has_bias ? (host ? bias[p].data() : bi[p].as<float>()) : nullptr,
                         static_cast<xsep_activation>(e % 4)};
  };
  auto xsep_params = [&](bool host) {
    return xsep_xsepconv_params{c.k,
                                c.stride,
                                c.pad,
                                host ? w2x2.data() : w2.as<float>(),
                                host ? w1xk.data() : w1.as<float>(),
                                host ? wkx1.data() : wk.as<float>(),
                                epilogue(c.epilogue, host, 0),
                                epilogue((c.epilogue + 5) % 8, host, 1),
                                epilogue((c.epilogue + 2) % 8, host, 2)};
  };

  const xsep_epilogue ep_host_v = epilogue(c.epilogue, true), ep_dev_v = epilogue(c.epilogue, false);
  const xsep_epilogue* ep_host_p = c.null_ep ? nullptr : &ep_host_v;
  const xsep_epilogue* ep_dev_p = c.null_ep ? nullptr : &ep_dev_v;
  // The reference on host x of descriptor d into y.
  auto reference = [&](const xsep_tensor_desc& d, const void* x, void* y) {
    const xsep_xsepconv_params ph = xsep_params(true);
    switch (c.op) {
      case Op::k2x2: return xsep_ref_dwconv2x2(&d, x, w_main.data(), c.pad, ep_host_p, y, nullptr);
      case Op::k1xK: return xsep_ref_dwconv1xk(&d, x, w_main.data(), c.k, c.stride, ep_host_p, y, nullptr);
      case Op::kKx1: return xsep_ref_dwconvkx1(&d, x, w_main.data(), c.k, c.stride, ep_host_p, y, nullptr);
      case Op::kKxK: return xsep_ref_dwconvkxk(&d, x, w_main.data(), c.k, c.stride, ep_host_p, y, nullptr);
      case Op::kXSep: return xsep_ref_xsepconv(&d, x, &ph, y, nullptr);
    }
    return XSEP_STATUS_INVALID_ARGUMENT;
  };
  // y sits kGuard bytes into its buffer, between two poisoned guard bands.
  void* y_ptr = y_dev.as<unsigned char>() + kGuard;
  xsep_status sd = XSEP_STATUS_SUCCESS;
  switch (c.op) {
    case Op::k2x2: sd = xsep_dwconv2x2(&desc, x_ptr, wm.as<float>(), c.pad, ep_dev_p, y_ptr, nullptr); break;
    case Op::k1xK: sd = xsep_dwconv1xk(&desc, x_ptr, wm.as<float>(), c.k, c.stride, ep_dev_p, y_ptr, nullptr); break;
    case Op::kKx1: sd = xsep_dwconvkx1(&desc, x_ptr, wm.as<float>(), c.k, c.stride, ep_dev_p, y_ptr, nullptr); break;
    case Op::kKxK: sd = xsep_dwconvkxk(&desc, x_ptr, wm.as<float>(), c.k, c.stride, ep_dev_p, y_ptr, nullptr); break;
    case Op::kXSep: {
      const xsep_xsepconv_params pd = xsep_params(false);
      sd = xsep_xsepconv(&desc, x_ptr, &pd, y_ptr, nullptr);
      break;
    }
  }
  ASSERT_EQ(sd, XSEP_STATUS_SUCCESS) << xsep_last_error();
  // SPEC 5 compares with a float64 reference reading the same (rounded) inputs.
  // The reference's float32 output on the same x values is that, to 2^-24
  // relative, for both dtypes; for float16 x the values are exact in float32.
  const xsep_tensor_desc desc32{desc.n, desc.c, desc.h, desc.w, XSEP_DTYPE_F32, desc.layout};
  const std::vector<double> x_vals = xsep_test::decode(x_host.data(), x_elems, c.dtype);
  const std::vector<unsigned char> x32 = xsep_test::encode(std::vector<float>(x_vals.begin(), x_vals.end()),
                                                           XSEP_DTYPE_F32);
  std::vector<unsigned char> y_ref(y_elems * 4);
  ASSERT_EQ(reference(desc32, x32.data(), y_ref.data()), XSEP_STATUS_SUCCESS) << xsep_last_error();

  // SPEC 2.5: only y is written; x is read, never changed.
  ASSERT_EQ(x_dev.download(), x_padded) << "x (or the bytes around it) changed";
  const std::vector<unsigned char> y_out = y_dev.download();
  for (size_t i = 0; i < kGuard; ++i) ASSERT_EQ(y_out[i], poison) << "write before y at byte -" << kGuard - i;
  for (size_t i = kGuard + y_elems * esz; i < y_out.size(); ++i)
    ASSERT_EQ(y_out[i], poison) << "write past the end of y at byte " << i - kGuard - y_elems * esz;
  const std::vector<double> ref = xsep_test::decode(y_ref.data(), y_elems, XSEP_DTYPE_F32),
                            got = xsep_test::decode(y_out.data() + kGuard, y_elems, c.dtype);
  if (c.nan_x)
    EXPECT_TRUE(xsep_test::matches_reference_with_nans(ref, got, c.dtype));
  else
    EXPECT_TRUE(xsep_test::matches_reference(ref, got, c.dtype));
  if (c.dtype == XSEP_DTYPE_F16) {
    double max_bias = 0;  // every pass's bias, used or not: a bound, not the exact scale
    for (const auto& b : bias)
      for (float v : b) max_bias = std::max(max_bias, double(std::fabs(v)));
    EXPECT_TRUE(xsep_test::rounds_to_nearest(ref, got, XSEP_DTYPE_F16, 1e-5, max_bias));
  }
}

TEST_P(KernelTest, MatchesReference) { run_case(GetParam()); }

// A block's opt-in to more than 48 KB of shared memory belongs to the CUDA
// context, and cudaDeviceReset makes a new one. The library's record of the
// opt-ins outlives it; the launch must set it again rather than fail. (The
// emulated device requires and forgets the opt-in the same way.)
// NHWC float32 K = 31 on 2 x 24 x 36 x 34 runs the stream kernel with a tile
// over 48 KB (95 KB on an H100, by bench/tile_counts.py, tested against the
// launch log).
TEST(KernelDeviceReset, TilesAbove48KBRunAfterReset) {
  if (!xsep_test::have_device()) GTEST_SKIP() << "no CUDA device";
  const Case c{Op::kXSep, XSEP_DTYPE_F32, XSEP_LAYOUT_NHWC, 31, 1, XSEP_PAD_SYMMETRIC, 11, 5, 0};
  run_case(c);
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  run_case(c);
}

// ReLU and ReLU6 of -0.0 give +0.0 (IEEE 754-2019 maximum(-0, +0) = +0, as
// PyTorch and numpy give) in the reference and the kernels alike, so that
// their outputs agree bit for bit and not only numerically. -0.0 reaches the
// activation as acc * scale + bias = 0.5 * -0.0 + -0.0 (a +0.0 bias, or the
// kernels' fmaf with a missing bias read as +0.0, would already give +0.0).
TEST(KernelSignedZero, ReluOfNegativeZeroIsPositiveZero) {
  const bool device = xsep_test::have_device();
  const float w = 0.5f, scale = -0.0f, bias = -0.0f;
  for (xsep_dtype dt : {XSEP_DTYPE_F32, XSEP_DTYPE_F16}) {
    const size_t esz = dt == XSEP_DTYPE_F32 ? 4 : 2;
    const xsep_tensor_desc d{1, 1, 1, 4, dt, XSEP_LAYOUT_NCHW};
    // x = 1.0 everywhere in either type.
    std::vector<unsigned char> x(4 * esz);
    const float one32 = 1.f;
    const uint16_t one16 = 0x3C00;
    for (int i = 0; i < 4; ++i) std::memcpy(&x[i * esz], esz == 4 ? static_cast<const void*>(&one32) : &one16, esz);
    for (xsep_activation act : {XSEP_ACT_RELU, XSEP_ACT_RELU6}) {
      SCOPED_TRACE(std::string(esz == 4 ? "f32" : "f16") + (act == XSEP_ACT_RELU ? " relu" : " relu6"));
      // Every output must be all-zero bytes, +0.0 (-0.0 has its sign bit set);
      // y starts as 0xFF bytes (NaN).
      auto expect_positive_zero = [](const std::vector<unsigned char>& y, const char* who) {
        for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], 0) << who << ": byte " << i;
      };
      const xsep_epilogue eh{&scale, &bias, act};
      std::vector<unsigned char> yh(x.size(), 0xFF);
      ASSERT_EQ(xsep_ref_dwconv1xk(&d, x.data(), &w, 1, 1, &eh, yh.data(), nullptr), XSEP_STATUS_SUCCESS);
      expect_positive_zero(yh, "reference");
      if (!device) continue;  // a CUDA build without a GPU: the reference only
      DeviceBuffer xd(x.size()), yd(x.size()), wd(4), sd(4), bd(4);
      xd.upload(x.data(), x.size());
      wd.upload(&w, 4);
      sd.upload(&scale, 4);
      bd.upload(&bias, 4);
      yd.fill_bytes(0xFF);
      const xsep_epilogue ed{sd.as<float>(), bd.as<float>(), act};
      ASSERT_EQ(xsep_dwconv1xk(&d, xd.get(), wd.as<float>(), 1, 1, &ed, yd.get(), nullptr), XSEP_STATUS_SUCCESS)
          << xsep_last_error();
      expect_positive_zero(yd.download(), "kernel");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernel, KernelTest, ::testing::ValuesIn(full_matrix()), case_name);
INSTANTIATE_TEST_SUITE_P(KernelRace, KernelTest, ::testing::ValuesIn(race_subset()), case_name);
INSTANTIATE_TEST_SUITE_P(KernelRaceWide, KernelTest, ::testing::ValuesIn(race_wide()), case_name);
INSTANTIATE_TEST_SUITE_P(Fuzz, KernelTest, ::testing::ValuesIn(fuzz_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(NaN, KernelTest, ::testing::ValuesIn(nan_cases()), case_name);

}  // namespace
