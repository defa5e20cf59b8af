// A problem whose smallest tile needs more shared memory than the device gives a
// block is XSEP_STATUS_UNSUPPORTED, with a message and y untouched; what fits
// still runs. Both launchers: the fused block's and the single operators'. No
// real card is that small for K <= 31, so this runs on a made-up emulated one
// (XSEP_EMU_DEVICE=tiny: 8 KB; CTest api_tiny_card) and skips elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/tensor_check.h"
#include "xsep/reference.h"
#include "xsep/xsep.h"

namespace {

bool on_tiny_card() {
#if defined(XSEP_TESTS_EMU)
  const char* v = std::getenv("XSEP_EMU_DEVICE");
  return v != nullptr && std::strcmp(v, "tiny") == 0;
#else
  return false;
#endif
}

struct Block {
  std::vector<float> x, w2x2, w1xk, wkx1, y;
  xsep_tensor_desc desc;
  xsep_xsepconv_params p{};

  Block(int k, xsep_layout layout) : desc{1, 8, 40, 40, XSEP_DTYPE_F32, layout} {
    std::mt19937 rng(k);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    auto fill = [&](std::vector<float>& v, size_t n) {
      v.resize(n);
      for (float& e : v) e = u(rng);
    };
    fill(x, 8 * 40 * 40);
    fill(w2x2, 8 * 4);
    fill(w1xk, 8 * size_t(k));
    fill(wkx1, 8 * size_t(k));
    y.assign(x.size(), std::nanf(""));  // poison: a write shows
    p.k = k;
    p.stride = 1;
    p.pad = XSEP_PAD_TOP_LEFT;
    p.w2x2 = w2x2.data();
    p.w1xk = w1xk.data();
    p.wkx1 = wkx1.data();
  }
  xsep_status run() { return xsep_xsepconv(&desc, x.data(), &p, y.data(), nullptr); }
};

class NoTileFits : public testing::TestWithParam<xsep_layout> {
 protected:
  void SetUp() override {
    if (!on_tiny_card()) GTEST_SKIP() << "needs the emulated 8 KB card (XSEP_EMU_DEVICE=tiny, CTest api_tiny_card)";
  }
};

TEST_P(NoTileFits, LargeKIsUnsupportedAndWritesNothing) {
  Block b(31, GetParam());
  ASSERT_EQ(b.run(), XSEP_STATUS_UNSUPPORTED);
  const std::string msg = xsep_last_error();
  EXPECT_NE(msg.find("xsep_xsepconv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shared memory"), std::string::npos) << msg;
  for (float v : b.y) ASSERT_TRUE(std::isnan(v)) << "y was written";
}

// K = 3 fits the 8 KB card with a smaller tile than an H100's: the result must
// still be the reference's.
TEST_P(NoTileFits, SmallKStillRuns) {
  Block b(3, GetParam());
  ASSERT_EQ(b.run(), XSEP_STATUS_SUCCESS) << xsep_last_error();
  std::vector<float> ref(b.y.size(), std::nanf(""));
  ASSERT_EQ(xsep_ref_xsepconv(&b.desc, b.x.data(), &b.p, ref.data(), nullptr), XSEP_STATUS_SUCCESS);
  EXPECT_TRUE(xsep_test::matches_reference(std::vector<double>(ref.begin(), ref.end()),
                                           std::vector<double>(b.y.begin(), b.y.end()), XSEP_DTYPE_F32));
}

// The single operators' launcher refuses the same way: a 31x31 depthwise conv
// at stride 2 needs a tile of 2 (t - 1) + 31 input rows, more than 8 KB even at
// its smallest, while at stride 1 the smallest tile fits and the result is the
// reference's.
TEST_P(NoTileFits, DwconvKxKLargeKIsUnsupportedAndWritesNothing) {
  Block b(31, GetParam());
  std::vector<float> w(8 * 31 * 31);
  std::mt19937 rng(31);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& e : w) e = u(rng);
  const int32_t ho = (40 - 1) / 2 + 1;
  std::vector<float> y(size_t(8) * ho * ho, std::nanf(""));
  xsep_status s = xsep_dwconvkxk(&b.desc, b.x.data(), w.data(), 31, 2, nullptr, y.data(), nullptr);
  ASSERT_EQ(s, XSEP_STATUS_UNSUPPORTED) << xsep_last_error();
  const std::string msg = xsep_last_error();
  EXPECT_NE(msg.find("xsep_dwconvkxk"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shared memory"), std::string::npos) << msg;
  for (float v : y) ASSERT_TRUE(std::isnan(v)) << "y was written";

  s = xsep_dwconvkxk(&b.desc, b.x.data(), w.data(), 31, 1, nullptr, b.y.data(), nullptr);
  ASSERT_EQ(s, XSEP_STATUS_SUCCESS) << xsep_last_error();
  std::vector<float> ref(b.y.size(), std::nanf(""));
  ASSERT_EQ(xsep_ref_dwconvkxk(&b.desc, b.x.data(), w.data(), 31, 1, nullptr, ref.data(), nullptr),
            XSEP_STATUS_SUCCESS);
  EXPECT_TRUE(xsep_test::matches_reference(std::vector<double>(ref.begin(), ref.end()),
                                           std::vector<double>(b.y.begin(), b.y.end()), XSEP_DTYPE_F32));
}

INSTANTIATE_TEST_SUITE_P(Layouts, NoTileFits, testing::Values(XSEP_LAYOUT_NCHW, XSEP_LAYOUT_NHWC),
                         [](const testing::TestParamInfo<xsep_layout>& i) {
                           return std::string(i.param == XSEP_LAYOUT_NCHW ? "nchw" : "nhwc");
                         });

}  // namespace
