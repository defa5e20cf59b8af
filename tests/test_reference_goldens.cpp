// The C reference (xsep_ref_*) against the float64 golden vectors of python_ref
// (directory in $XSEP_GOLDEN_DIR): one test per case file, plus a guard that the
// set is there and covers every op, dtype, layout, direction and activation, and
// checks that the golden reader refuses damaged files.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/golden_reader.h"
#include "support/tensor_check.h"
#include "xsep/reference.h"

namespace xsep_test {
namespace {

std::string golden_dir() {
  const char* d = std::getenv("XSEP_GOLDEN_DIR");
  return d != nullptr ? d : "";
}

// Case files, read when GoogleTest registers the tests (after main starts).
std::vector<std::string> golden_files() {
  return golden_dir().empty() ? std::vector<std::string>{} : read_index(golden_dir());
}

std::vector<float> as_floats(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// SPEC 2: output extent of an axis of size n with "same" padding and stride s.
int64_t strided(int64_t n, int s) { return (n - 1) / s + 1; }

class ReferenceGoldenCase : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceGoldenCase, MatchesFloat64Golden) {
  GoldenCase g;
  std::string error;
  ASSERT_TRUE(read_golden(golden_dir() + "/" + GetParam(), &g, &error)) << error;

  const xsep_dtype dtype = g.dtype == "f16" ? XSEP_DTYPE_F16 : XSEP_DTYPE_F32;
  const xsep_layout layout = g.layout == "nhwc" ? XSEP_LAYOUT_NHWC : XSEP_LAYOUT_NCHW;
  const xsep_tensor_desc desc{g.shape[0], g.shape[1], g.shape[2], g.shape[3], dtype, layout};

  // The golden out_shape must be what SPEC 2 says the operator writes.
  const bool strides_h = g.op == "dwconvkx1" || g.op == "dwconvkxk" || g.op == "xsepconv";
  const bool strides_w = g.op == "dwconv1xk" || g.op == "dwconvkxk" || g.op == "xsepconv";
  const int64_t ho = strides_h ? strided(g.shape[2], g.stride) : g.shape[2];
  const int64_t wo = strides_w ? strided(g.shape[3], g.stride) : g.shape[3];
  ASSERT_EQ(g.out_shape[2], ho);
  ASSERT_EQ(g.out_shape[3], wo);

  // x in the case dtype; float16 goldens hold exactly representable values.
  const std::vector<double>& x = g.tensors.at("x");
  const std::vector<unsigned char> x_bytes = encode(as_floats(x), dtype);
  ASSERT_EQ(decode(x_bytes.data(), x.size(), dtype), x) << "x does not round-trip through " << g.dtype;

  // y poisoned with 0xFF (NaN in both dtypes), plus a poisoned guard after it.
  const size_t elem = dtype == XSEP_DTYPE_F32 ? 4 : 2;
  const size_t y_count = g.tensors.at("y").size();
  constexpr size_t kGuard = 64;
  std::vector<unsigned char> y_bytes(y_count * elem + kGuard, 0xFF);

  std::map<std::string, xsep_epilogue> eps;
  for (const auto& [name, e] : g.epilogues) {
    eps[name] = {e.scale.empty() ? nullptr : e.scale.data(), e.bias.empty() ? nullptr : e.bias.data(),
                 static_cast<xsep_activation>(e.act)};  // act checked to be 0..3 by the reader
  }
  const auto w = [&](const char* name) { return as_floats(g.tensors.at(name)); };
  const xsep_pad pad = static_cast<xsep_pad>(g.pad);  // checked to be 0..4 by the reader

  xsep_status s;
  if (g.op == "xsepconv") {
    const std::vector<float> w2 = w("w2x2"), w1 = w("w1xk"), wk = w("wkx1");
    const xsep_xsepconv_params p{g.k,          g.stride,     pad,         w2.data(), w1.data(),
                                 wk.data(),    eps["ep2x2"], eps["ep1xk"], eps["epkx1"]};
    s = xsep_ref_xsepconv(&desc, x_bytes.data(), &p, y_bytes.data(), nullptr);
  } else {
    const std::vector<float> wt = w("w");
    const xsep_epilogue* ep = &eps["ep"];
    void* y = y_bytes.data();
    if (g.op == "dwconv2x2") s = xsep_ref_dwconv2x2(&desc, x_bytes.data(), wt.data(), pad, ep, y, nullptr);
    else if (g.op == "dwconv1xk") s = xsep_ref_dwconv1xk(&desc, x_bytes.data(), wt.data(), g.k, g.stride, ep, y, nullptr);
    else if (g.op == "dwconvkx1") s = xsep_ref_dwconvkx1(&desc, x_bytes.data(), wt.data(), g.k, g.stride, ep, y, nullptr);
    else s = xsep_ref_dwconvkxk(&desc, x_bytes.data(), wt.data(), g.k, g.stride, ep, y, nullptr);
  }
  ASSERT_EQ(s, XSEP_STATUS_SUCCESS) << xsep_status_string(s) << ": " << xsep_last_error();

  const std::vector<double> got = decode(y_bytes.data(), y_count, dtype);
  EXPECT_TRUE(matches_reference(g.tensors.at("y"), got, dtype));
  // Tighter than SPEC 5, which bounds the kernels: the oracle accumulates in
  // double and rounds once, to nearest (a float32 accumulator, or rounding
  // toward zero, passes SPEC 5's bounds on these cases but not this).
  double max_bias = 0;  // acc * scale + bias may cancel: double's error follows |bias|
  for (const auto& [name, e] : g.epilogues)
    for (float v : e.bias) max_bias = std::max(max_bias, double(std::fabs(v)));
  EXPECT_TRUE(rounds_to_nearest(g.tensors.at("y"), got, dtype, 1e-12, max_bias));
  for (size_t i = y_count * elem; i < y_bytes.size(); ++i) {
    ASSERT_EQ(y_bytes[i], 0xFF) << "write past the end of y at byte " << i;
  }
}

// Case file name -> test name ("dwconv2x2_f32_nchw_tl_c7_0.txt" -> "dwconv2x2_f32_nchw_tl_c7_0").
std::string case_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param.substr(0, info.param.rfind(".txt"));
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(ReferenceGolden, ReferenceGoldenCase, ::testing::ValuesIn(golden_files()),
                         case_test_name);
// Without a golden directory there are no cases; ReferenceGoldenSet reports that.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceGoldenCase);

TEST(ReferenceGoldenSet, IsPresentAndCoversEveryOpDtypeLayoutDirectionActivation) {
  ASSERT_FALSE(golden_dir().empty())
      << "XSEP_GOLDEN_DIR is not set; generate a set with `python3 -m python_ref.goldens DIR`";
  const std::vector<std::string> files = read_index(golden_dir());
  ASSERT_FALSE(files.empty()) << golden_dir() << "/index.txt is missing or empty";
  std::set<std::string> ops, dtypes, layouts;
  std::set<int> pads, acts;
  for (const std::string& f : files) {
    GoldenCase g;
    std::string error;
    ASSERT_TRUE(read_golden(golden_dir() + "/" + f, &g, &error)) << error;
    ops.insert(g.op);
    dtypes.insert(g.dtype);
    layouts.insert(g.layout);
    if (g.op == "dwconv2x2" || g.op == "xsepconv") pads.insert(g.pad);
    for (const auto& [name, e] : g.epilogues) acts.insert(e.act);
  }
  EXPECT_EQ(ops, (std::set<std::string>{"dwconv2x2", "dwconv1xk", "dwconvkx1", "dwconvkxk", "xsepconv"}));
  EXPECT_EQ(dtypes, (std::set<std::string>{"f32", "f16"}));
  EXPECT_EQ(layouts, (std::set<std::string>{"nchw", "nhwc"}));
  EXPECT_EQ(pads, (std::set<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(acts, (std::set<int>{0, 1, 2, 3}));
}

// The reader itself: a minimal valid file parses, and each kind of damage is refused.
constexpr const char* kTinyCase =
    "xsep-golden 1\nop dwconv2x2\ndtype f32\nlayout nchw\nshape 1 1 1 2\nout_shape 1 1 1 2\n"
    "k 2\nstride 1\npad 3\nepilogue ep 1 0 1\ntensor x 2\n0.5 -0.25\ntensor w 4\n1.0 0.0\n"
    "0.0 0.0\ntensor ep.bias 1\n0.125\ntensor y 2\n0.625 -0.125\nend\n";

bool read_text(const std::string& text, GoldenCase* g, std::string* error) {
  const std::string path = ::testing::TempDir() + "/xsep_golden_reader_case.txt";
  std::ofstream(path, std::ios::binary) << text;
  return read_golden(path, g, error);
}

TEST(ReferenceGoldenReader, ParsesAValidCase) {
  GoldenCase g;
  std::string error;
  ASSERT_TRUE(read_text(kTinyCase, &g, &error)) << error;
  EXPECT_EQ(g.name, "xsep_golden_reader_case");
  EXPECT_EQ(g.op, "dwconv2x2");
  EXPECT_EQ(g.pad, 3);
  EXPECT_EQ(g.epilogues.at("ep").act, 1);
  EXPECT_TRUE(g.epilogues.at("ep").scale.empty());
  EXPECT_EQ(g.epilogues.at("ep").bias, std::vector<float>{0.125f});
  EXPECT_EQ(g.tensors.at("y"), (std::vector<double>{0.625, -0.125}));
}

TEST(ReferenceGoldenReader, RejectsEveryMalformedVariant) {
  const struct {
    const char* what;
    const char* from;
    const char* to;
  } kDamage[] = {
      {"wrong version", "xsep-golden 1", "xsep-golden 2"},
      {"unknown header key", "stride 1\n", "stride 1\ncolor red\n"},
      {"duplicate header key", "stride 1\n", "stride 1\nstride 1\n"},
      {"missing header key", "pad 3\n", ""},
      {"pad out of range", "pad 3", "pad 5"},
      {"activation out of range", "epilogue ep 1", "epilogue ep 4"},
      {"epilogue of another op", "epilogue ep ", "epilogue ep2x2 "},
      {"declared count disagrees with shape", "tensor x 2\n0.5 -0.25", "tensor x 3\n0.5 -0.25 1"},
      {"too few numbers", "0.5 -0.25\n", "0.5\n"},
      {"too many numbers", "0.5 -0.25\n", "0.5 -0.25 1\n"},
      {"not a number", "0.5 -0.25", "0.5 nan"},
      {"unexpected tensor", "tensor y 2", "tensor z 2"},
      {"flagged bias missing", "tensor ep.bias 1\n0.125\n", ""},
      {"missing end", "end\n", ""},
      {"content after end", "end\n", "end\nextra\n"},
  };
  for (const auto& d : kDamage) {
    std::string text = kTinyCase;
    const size_t at = text.find(d.from);
    ASSERT_NE(at, std::string::npos) << d.what;
    text.replace(at, std::strlen(d.from), d.to);
    GoldenCase g;
    std::string error;
    EXPECT_FALSE(read_text(text, &g, &error)) << d.what;
    EXPECT_FALSE(error.empty()) << d.what;
  }
}

}  // namespace
}  // namespace xsep_test
