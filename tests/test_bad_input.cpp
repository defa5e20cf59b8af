// The bad-input contract of every public operator, reference (xsep_ref_*) and
// device (xsep_*): exact status, a last-error message naming the function, and
// no byte of y (or x) touched. Host buffers only: validation precedes any device
// access, so this runs on the emulated and CUDA builds, with or without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

#include "bad_enum_calls.h"
#include "xsep/reference.h"
#include "xsep/xsep.h"

namespace {

struct Operator {
  const char* name;
  int op;  // XSEP_TEST_OP_* of bad_enum_calls.h
  bool reference;
  decltype(&xsep_dwconv2x2) f2x2;
  decltype(&xsep_dwconv1xk) fdw;  // 1xK, Kx1, KxK
  decltype(&xsep_xsepconv) fxs;
};
void PrintTo(const Operator& o, std::ostream* os) { *os << o.name; }

const Operator kRef2x2{"xsep_ref_dwconv2x2", XSEP_TEST_OP_2X2, true, xsep_ref_dwconv2x2, nullptr, nullptr};
const Operator kDev2x2{"xsep_dwconv2x2", XSEP_TEST_OP_2X2, false, xsep_dwconv2x2, nullptr, nullptr};
const Operator kRef1xk{"xsep_ref_dwconv1xk", XSEP_TEST_OP_1XK, true, nullptr, xsep_ref_dwconv1xk, nullptr};
const Operator kDev1xk{"xsep_dwconv1xk", XSEP_TEST_OP_1XK, false, nullptr, xsep_dwconv1xk, nullptr};
const Operator kRefKx1{"xsep_ref_dwconvkx1", XSEP_TEST_OP_KX1, true, nullptr, xsep_ref_dwconvkx1, nullptr};
const Operator kDevKx1{"xsep_dwconvkx1", XSEP_TEST_OP_KX1, false, nullptr, xsep_dwconvkx1, nullptr};
const Operator kRefKxk{"xsep_ref_dwconvkxk", XSEP_TEST_OP_KXK, true, nullptr, xsep_ref_dwconvkxk, nullptr};
const Operator kDevKxk{"xsep_dwconvkxk", XSEP_TEST_OP_KXK, false, nullptr, xsep_dwconvkxk, nullptr};
const Operator kRefXsep{"xsep_ref_xsepconv", XSEP_TEST_OP_XSEPCONV, true, nullptr, nullptr, xsep_ref_xsepconv};
const Operator kDevXsep{"xsep_xsepconv", XSEP_TEST_OP_XSEPCONV, false, nullptr, nullptr, xsep_xsepconv};

std::string operator_name(const ::testing::TestParamInfo<Operator>& info) { return info.param.name; }

constexpr int64_t kBig = int64_t{1} << 20;

// Every operator call happens on one arena of host memory that x and y point
// into (at aligned offsets by default); a refused call must leave all of it as
// it was. Weights live apart: they are const and never checked.
class BadInputOp : public ::testing::TestWithParam<Operator> {
 protected:
  static constexpr size_t kArenaBytes = 4096, kYOffset = 2048;

  BadInputOp() : arena_(kArenaBytes), weights_(33 * 33 * 3, 0.25f) {
    for (size_t i = 0; i < kArenaBytes; ++i) arena_[i] = static_cast<unsigned char>(i * 37 + 11);
    unsigned char* a = bytes();
    x_ = a;
    y_ = a + kYOffset;
    w_ = weights_.data();
    params_ = {k_, stride_, XSEP_PAD_TOP_LEFT, w_, w_, w_, ep_, ep_, ep_};
  }

  unsigned char* bytes() { return arena_.data(); }  // 16-byte aligned (operator new)
  const Operator& op() const { return GetParam(); }
  bool is_xsep() const { return op().op == XSEP_TEST_OP_XSEPCONV; }

  // The call as currently configured, through the C++ prototypes.
  xsep_status invoke() {
    const Operator& o = op();
    const xsep_tensor_desc* d = null_desc_ ? nullptr : &desc_;
    if (o.f2x2 != nullptr) return o.f2x2(d, x_, w_, XSEP_PAD_BOTTOM_LEFT, &ep_, y_, nullptr);
    if (o.fdw != nullptr) return o.fdw(d, x_, w_, k_, stride_, &ep_, y_, nullptr);
    params_.k = k_;
    params_.stride = stride_;
    return o.fxs(d, x_, null_params_ ? nullptr : &params_, y_, nullptr);
  }

  // Runs `call` (returning the status as an int) and checks the refusal.
  template <class Call>
  void expect_status(int want, const std::string& what, Call call) {
    SCOPED_TRACE(what);
    // Leave a different function's message behind, so the check below proves
    // this call wrote its own.
    ASSERT_EQ(xsep_padding_schedule(0, nullptr), XSEP_STATUS_INVALID_ARGUMENT);
    const std::vector<unsigned char> before = arena_;
    const int got = call();
    EXPECT_EQ(got, want) << "got " << xsep_test_status_string(got) << ", want "
                         << xsep_test_status_string(want) << "; last error: " << xsep_last_error();
    const std::string msg = xsep_last_error();
    EXPECT_NE(msg.find(op().name), std::string::npos) << "last error does not name the function: " << msg;
    EXPECT_TRUE(before == arena_) << "y or x was written";
  }
  void expect(xsep_status want, const std::string& what) {
    expect_status(want, what, [&] { return static_cast<int>(invoke()); });
  }
  void expect_enum(int field, int value, const std::string& what) {
    expect_status(XSEP_STATUS_INVALID_ARGUMENT, what + " = " + std::to_string(value), [&] {
      return xsep_test_call_with_enum(op().op, op().reference, field, value, &desc_, x_, w_, k_,
                                      stride_, y_);
    });
  }
  // Sets an int argument (k_ or stride_) to each value in turn.
  void expect_each(int32_t* arg, const char* name, std::initializer_list<int32_t> values, xsep_status want) {
    for (int32_t v : values) {
      *arg = v;
      expect(want, std::string(name) + " = " + std::to_string(v));
    }
  }
  void expect_shape(int64_t n, int64_t c, int64_t h, int64_t w, xsep_status want) {
    desc_ = {n, c, h, w, desc_.dtype, desc_.layout};
    expect(want, "shape " + std::to_string(n) + "x" + std::to_string(c) + "x" +
                     std::to_string(h) + "x" + std::to_string(w));
  }

  std::vector<unsigned char> arena_;
  std::vector<float> weights_;
  xsep_tensor_desc desc_{1, 3, 5, 6, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW};  // 360 bytes of f32
  bool null_desc_ = false, null_params_ = false;
  const void* x_;
  void* y_;
  const float* w_;
  int32_t k_ = 3, stride_ = 1;
  xsep_epilogue ep_{nullptr, nullptr, XSEP_ACT_RELU};
  xsep_xsepconv_params params_;
};

// ---- Every operator ---------------------------------------------------------
class BadInputEveryOp : public BadInputOp {};

TEST_P(BadInputEveryOp, NullDescriptor) {
  null_desc_ = true;
  expect(XSEP_STATUS_INVALID_ARGUMENT, "x_desc NULL");
}

TEST_P(BadInputEveryOp, NullX) {
  x_ = nullptr;
  expect(XSEP_STATUS_INVALID_ARGUMENT, "x NULL");
}

TEST_P(BadInputEveryOp, NullY) {
  y_ = nullptr;
  expect(XSEP_STATUS_INVALID_ARGUMENT, "y NULL");
}

TEST_P(BadInputEveryOp, NullWeights) {
  if (!is_xsep()) {
    w_ = nullptr;
    expect(XSEP_STATUS_INVALID_ARGUMENT, "w NULL");
    return;
  }
  const struct {
    const float** slot;
    const char* name;
  } kSlots[] = {{&params_.w2x2, "w2x2"}, {&params_.w1xk, "w1xk"}, {&params_.wkx1, "wkx1"}};
  for (const auto& s : kSlots) {
    *s.slot = nullptr;
    expect(XSEP_STATUS_INVALID_ARGUMENT, std::string("params->") + s.name + " NULL");
    *s.slot = w_;
  }
}

TEST_P(BadInputEveryOp, ZeroOrNegativeDimension) {
  for (int64_t bad : {int64_t{0}, int64_t{-1}, INT64_MIN}) {
    expect_shape(bad, 3, 5, 6, XSEP_STATUS_INVALID_ARGUMENT);
    expect_shape(1, bad, 5, 6, XSEP_STATUS_INVALID_ARGUMENT);
    expect_shape(1, 3, bad, 6, XSEP_STATUS_INVALID_ARGUMENT);
    expect_shape(1, 3, 5, bad, XSEP_STATUS_INVALID_ARGUMENT);
  }
}

TEST_P(BadInputEveryOp, ElementCountOverflowingInt64) {
  expect_shape(kBig, kBig, kBig, kBig, XSEP_STATUS_INVALID_ARGUMENT);  // 2^80
  expect_shape(int64_t{1} << 32, int64_t{1} << 31, 1, 1, XSEP_STATUS_INVALID_ARGUMENT);  // 2^63
  expect_shape(1, 1, INT64_MAX, 2, XSEP_STATUS_INVALID_ARGUMENT);
}

TEST_P(BadInputEveryOp, MoreThanInt32MaxElementsUnsupported) {
  expect_shape(1, 1, 65536, 65536, XSEP_STATUS_UNSUPPORTED);  // 2^32
  expect_shape(1, 2, 32768, 32768, XSEP_STATUS_UNSUPPORTED);  // 2^31, the first one too many
  expect_shape(kBig, kBig, 1, 1, XSEP_STATUS_UNSUPPORTED);    // 2^40
}

// C above 2^30 (the launchers round it up to a multiple of the channel tile in
// int), and a weight array [C][taps] above 2^31-1 floats (the kernels index it
// in int). Neither x nor y is dereferenced: they point at distant dummy
// addresses so that their 2-8 GiB extents do not overlap.
TEST_P(BadInputEveryOp, ChannelsOrWeightArrayTooLargeUnsupported) {
  x_ = reinterpret_cast<const void*>(uintptr_t{1} << 36);
  y_ = reinterpret_cast<void*>(uintptr_t{1} << 40);
  desc_.layout = XSEP_LAYOUT_NHWC;
  expect_shape(1, (int64_t{1} << 30) + 1, 1, 1, XSEP_STATUS_UNSUPPORTED);
  const int64_t taps = op().op == XSEP_TEST_OP_KXK ? k_ * k_ : op().op == XSEP_TEST_OP_1XK || op().op == XSEP_TEST_OP_KX1 ? k_ : 4;
  expect_shape(1, INT32_MAX / taps + 1, 1, 1, XSEP_STATUS_UNSUPPORTED);
  if (is_xsep()) {
    // The 1xK and Kx1 weights [C][K] outgrow the 2x2's [C][4] once K > 4: at
    // K = 31 a C whose w2x2 fits still makes w1xk too large.
    k_ = 31;
    expect_shape(1, INT32_MAX / 31 + 1, 1, 1, XSEP_STATUS_UNSUPPORTED);
    EXPECT_NE(std::string(xsep_last_error()).find("w1xk"), std::string::npos) << xsep_last_error();
  }
}

TEST_P(BadInputEveryOp, OutOfRangeDtype) {
  for (int v : {2, 7, -1, INT32_MIN}) expect_enum(XSEP_TEST_FIELD_DTYPE, v, "dtype");
}

TEST_P(BadInputEveryOp, OutOfRangeLayout) {
  for (int v : {2, 5, -1, INT32_MAX}) expect_enum(XSEP_TEST_FIELD_LAYOUT, v, "layout");
}

TEST_P(BadInputEveryOp, OutOfRangeActivationInEveryEpilogue) {
  const std::vector<int> slots =
      is_xsep() ? std::vector<int>{XSEP_TEST_FIELD_ACT_EP2X2, XSEP_TEST_FIELD_ACT_EP1XK,
                                   XSEP_TEST_FIELD_ACT_EPKX1}
                : std::vector<int>{XSEP_TEST_FIELD_ACT_EP};
  for (int slot : slots) {
    for (int v : {4, 42, -1}) expect_enum(slot, v, "activation in epilogue slot " + std::to_string(slot));
  }
}

TEST_P(BadInputEveryOp, XEqualsY) {
  y_ = bytes();
  expect(XSEP_STATUS_INVALID_ARGUMENT, "y == x");
}

TEST_P(BadInputEveryOp, PartiallyOverlappingXAndY) {
  y_ = bytes() + 180;  // inside x's 360 bytes
  expect(XSEP_STATUS_INVALID_ARGUMENT, "y starts inside x");
  x_ = bytes() + kYOffset;
  y_ = bytes() + kYOffset - 8;  // x starts inside y
  expect(XSEP_STATUS_INVALID_ARGUMENT, "x starts inside y");
  y_ = bytes() + kYOffset - 356;  // y's last element is x's first
  expect(XSEP_STATUS_INVALID_ARGUMENT, "y overlaps x by one element");
}

// y must not overlap the weights or an epilogue's scale or bias either: the
// kernels write y while other blocks still read them. Each array in turn
// starts inside y, then (w) ends on y's first element.
TEST_P(BadInputEveryOp, YOverlapsWeightsOrEpilogue) {
  const float* inside_y = reinterpret_cast<const float*>(bytes() + kYOffset + 8);
  struct Slot {
    const float** slot;
    std::string name;
  };
  const std::vector<Slot> slots =
      is_xsep() ? std::vector<Slot>{{&params_.w2x2, "params->w2x2"},
                                    {&params_.w1xk, "params->w1xk"},
                                    {&params_.wkx1, "params->wkx1"},
                                    {&params_.ep2x2.scale, "params->ep2x2.scale"},
                                    {&params_.ep1xk.bias, "params->ep1xk.bias"},
                                    {&params_.epkx1.scale, "params->epkx1.scale"},
                                    {&params_.epkx1.bias, "params->epkx1.bias"}}
                : std::vector<Slot>{{&w_, "w"}, {&ep_.scale, "ep.scale"}, {&ep_.bias, "ep.bias"}};
  for (const Slot& s : slots) {
    const float* kept = *s.slot;
    *s.slot = inside_y;
    expect(XSEP_STATUS_INVALID_ARGUMENT, s.name + " starts inside y");
    *s.slot = kept;
  }
  // w: [C][taps] floats, C = 3; its last float on y's first.
  const int64_t taps = op().op == XSEP_TEST_OP_2X2 ? 4 : op().op == XSEP_TEST_OP_KXK ? k_ * k_ : k_;
  const int64_t w_floats = is_xsep() ? 3 * 4 : 3 * taps;  // xsepconv: w2x2
  const float* last_on_y = reinterpret_cast<const float*>(bytes() + kYOffset) - (w_floats - 1);
  const float** w_slot = is_xsep() ? &params_.w2x2 : &w_;
  *w_slot = last_on_y;
  expect(XSEP_STATUS_INVALID_ARGUMENT, "w's last element is y's first");
}

// Every float array (weights, scale, bias) must be 4-byte aligned: a misaligned
// float load is a sticky error that ends the CUDA context. Each in turn at
// one byte past an aligned address (outside y), named in the message.
TEST_P(BadInputEveryOp, MisalignedWeightsOrEpilogue) {
  const float* misaligned = reinterpret_cast<const float*>(reinterpret_cast<const unsigned char*>(weights_.data()) + 1);
  struct Slot {
    const float** slot;
    std::string name;
  };
  const std::vector<Slot> slots =
      is_xsep() ? std::vector<Slot>{{&params_.w2x2, "params->w2x2"},       {&params_.w1xk, "params->w1xk"},
                                    {&params_.wkx1, "params->wkx1"},       {&params_.ep2x2.scale, "params->ep2x2.scale"},
                                    {&params_.ep2x2.bias, "params->ep2x2.bias"}, {&params_.ep1xk.scale, "params->ep1xk.scale"},
                                    {&params_.ep1xk.bias, "params->ep1xk.bias"}, {&params_.epkx1.scale, "params->epkx1.scale"},
                                    {&params_.epkx1.bias, "params->epkx1.bias"}}
                : std::vector<Slot>{{&w_, "w"}, {&ep_.scale, "ep.scale"}, {&ep_.bias, "ep.bias"}};
  for (const Slot& s : slots) {
    const float* kept = *s.slot;
    *s.slot = misaligned;
    expect(XSEP_STATUS_INVALID_ARGUMENT, s.name + " at +1 byte");
    EXPECT_NE(std::string(xsep_last_error()).find(s.name + " ("), std::string::npos) << xsep_last_error();
    *s.slot = kept;
  }
}

TEST_P(BadInputEveryOp, MisalignedXOrY) {
  for (const xsep_dtype dtype : {XSEP_DTYPE_F32, XSEP_DTYPE_F16}) {
    desc_.dtype = dtype;
    const std::string t = dtype == XSEP_DTYPE_F32 ? "f32" : "f16";
    for (size_t off : dtype == XSEP_DTYPE_F32 ? std::vector<size_t>{1, 2, 3} : std::vector<size_t>{1}) {
      x_ = bytes() + off;
      expect(XSEP_STATUS_INVALID_ARGUMENT, t + " x at +" + std::to_string(off));
      x_ = bytes();
      y_ = bytes() + kYOffset + off;
      expect(XSEP_STATUS_INVALID_ARGUMENT, t + " y at +" + std::to_string(off));
      y_ = bytes() + kYOffset;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputEveryOp,
                         ::testing::Values(kRef2x2, kDev2x2, kRef1xk, kDev1xk, kRefKx1, kDevKx1,
                                           kRefKxk, kDevKxk, kRefXsep, kDevXsep),
                         operator_name);

// ---- Operators with K and stride (all but 2x2) ------------------------------
class BadInputKStrideOp : public BadInputOp {};

TEST_P(BadInputKStrideOp, EvenK) { expect_each(&k_, "k", {2, 4, 32}, XSEP_STATUS_INVALID_ARGUMENT); }

TEST_P(BadInputKStrideOp, ZeroOrNegativeK) {
  expect_each(&k_, "k", {0, -1, -3, INT32_MIN}, XSEP_STATUS_INVALID_ARGUMENT);
}

TEST_P(BadInputKStrideOp, KAbove31Unsupported) {
  expect_each(&k_, "k", {33, 35, INT32_MAX}, XSEP_STATUS_UNSUPPORTED);
}

TEST_P(BadInputKStrideOp, ZeroOrNegativeStride) {
  expect_each(&stride_, "stride", {0, -1, INT32_MIN}, XSEP_STATUS_INVALID_ARGUMENT);
}

TEST_P(BadInputKStrideOp, StrideAbove2Unsupported) {
  expect_each(&stride_, "stride", {3, 4, INT32_MAX}, XSEP_STATUS_UNSUPPORTED);
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputKStrideOp,
                         ::testing::Values(kRef1xk, kDev1xk, kRefKx1, kDevKx1, kRefKxk, kDevKxk,
                                           kRefXsep, kDevXsep),
                         operator_name);

// ---- Operators with a 2x2 direction ------------------------------------------
class BadInputPadOp : public BadInputOp {};

TEST_P(BadInputPadOp, OutOfRangePad) {
  for (int v : {5, 9, -1, INT32_MIN}) expect_enum(XSEP_TEST_FIELD_PAD, v, "pad");
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputPadOp, ::testing::Values(kRef2x2, kDev2x2, kRefXsep, kDevXsep),
                         operator_name);

// ---- xsepconv only -----------------------------------------------------------
class BadInputXsepconvOp : public BadInputOp {};

TEST_P(BadInputXsepconvOp, NullParams) {
  null_params_ = true;
  expect(XSEP_STATUS_INVALID_ARGUMENT, "params NULL");
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputXsepconvOp, ::testing::Values(kRefXsep, kDevXsep),
                         operator_name);

// ---- Controls ------------------------------------------------------------------
// The unbroken call of the fixture is valid (so each refusal above is caused by
// the one argument a test breaks): the reference accepts it, and the C helper
// returns -1 for fields an operator does not have.
class BadInputControl : public BadInputOp {};

TEST_P(BadInputControl, ReferenceAcceptsTheUnbrokenCall) {
  EXPECT_EQ(invoke(), XSEP_STATUS_SUCCESS) << xsep_last_error();
  EXPECT_EQ(xsep_test_call_with_enum(op().op, 1, XSEP_TEST_FIELD_DTYPE, XSEP_DTYPE_F16, &desc_, x_,
                                     w_, k_, stride_, y_),
            XSEP_STATUS_SUCCESS)
      << xsep_last_error();
  // Weights and an epilogue that end exactly where y begins do not overlap it.
  const int64_t taps = op().op == XSEP_TEST_OP_2X2 ? 4 : op().op == XSEP_TEST_OP_KXK ? k_ * k_ : k_;
  const float* y_begin = reinterpret_cast<const float*>(bytes() + kYOffset);
  w_ = y_begin - (is_xsep() ? 3 * 4 : 3 * taps);
  params_.w2x2 = w_;
  ep_.bias = params_.epkx1.bias = y_begin - 3;
  EXPECT_EQ(invoke(), XSEP_STATUS_SUCCESS) << "arrays adjacent to y: " << xsep_last_error();
  const int foreign = is_xsep() ? XSEP_TEST_FIELD_ACT_EP : XSEP_TEST_FIELD_ACT_EP2X2;
  EXPECT_EQ(xsep_test_call_with_enum(op().op, 1, foreign, 0, &desc_, x_, w_, k_, stride_, y_), -1);
}

INSTANTIATE_TEST_SUITE_P(BadInput, BadInputControl,
                         ::testing::Values(kRef2x2, kRef1xk, kRefKx1, kRefKxk, kRefXsep), operator_name);

}  // namespace
