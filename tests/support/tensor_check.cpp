// Helpers of tensor_check.h.
#include "tensor_check.h"

#include <cmath>
#include <cstring>
#include <sstream>

namespace xsep_test {

uint16_t f32_to_f16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;                 // NaN
  if (abs >= 0x477ff000) return sign | 0x7c00;                // >= 65520: rounds to infinity
  if (abs < 0x38800000) {                                     // below 2^-14: subnormal half
    const float scaled = std::fabs(f) * 16777216.0f;          // exact: units of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  // Normal: drop 13 mantissa bits with round to nearest, ties to even.
  const uint32_t rebased = abs - (112u << 23);                // exponent bias 127 -> 15
  const uint32_t lsb = (rebased >> 13) & 1;
  return sign | static_cast<uint16_t>((rebased + 0xfff + lsb) >> 13);
}

float f16_bits_to_f32(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  float mag;
  if (exp == 0) mag = std::ldexp(static_cast<float>(frac), -24);
  else if (exp == 31) mag = frac ? NAN : INFINITY;
  else mag = std::ldexp(static_cast<float>(1024 + frac), exp - 25);
  return (h & 0x8000) ? -mag : mag;
}

std::vector<unsigned char> encode(const std::vector<float>& values, xsep_dtype dtype) {
  std::vector<unsigned char> out(values.size() * (dtype == XSEP_DTYPE_F32 ? 4 : 2));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == XSEP_DTYPE_F32) {
      std::memcpy(&out[i * 4], &values[i], 4);
    } else {
      const uint16_t b = f32_to_f16_bits(values[i]);
      std::memcpy(&out[i * 2], &b, 2);
    }
  }
  return out;
}

std::vector<double> decode(const void* data, size_t count, xsep_dtype dtype) {
  std::vector<double> out(count);
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < count; ++i) {
    if (dtype == XSEP_DTYPE_F32) {
      float f;
      std::memcpy(&f, p + i * 4, 4);
      out[i] = f;
    } else {
      uint16_t b;
      std::memcpy(&b, p + i * 2, 2);
      out[i] = f16_bits_to_f32(b);
    }
  }
  return out;
}

std::vector<float> random_floats(size_t count, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (auto& x : v) x = dist(rng);
  return v;
}

::testing::AssertionResult matches_reference(const std::vector<double>& ref,
                                             const std::vector<double>& got, xsep_dtype dtype) {
  if (ref.size() != got.size()) {
    return ::testing::AssertionFailure()
           << "size mismatch: ref " << ref.size() << " vs got " << got.size();
  }
  const double rel_l2_bound = dtype == XSEP_DTYPE_F32 ? 1e-5 : 2e-3;
  const double max_rel_bound = dtype == XSEP_DTYPE_F32 ? 1e-4 : 4e-3;
  // A non-finite reference (an unwritten poisoned element, an overflow) would
  // disable the bounds below (NaN compares false), so it fails the check.
  for (size_t i = 0; i < ref.size(); ++i)
    if (!std::isfinite(ref[i]))
      return ::testing::AssertionFailure() << "the reference is not finite at [" << i << "]: " << ref[i];
  double max_ref = 0, num = 0, den = 0, max_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) max_ref = std::max(max_ref, std::fabs(ref[i]));
  std::ostringstream bad;
  int shown = 0;
  size_t nonfinite = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) {
      ++nonfinite;
      if (shown < 5) bad << "\n  [" << i << "] got " << got[i] << " (not finite), ref " << ref[i], ++shown;
      continue;
    }
    const double e = std::fabs(got[i] - ref[i]);
    num += e * e;
    den += ref[i] * ref[i];
    max_err = std::max(max_err, e);
    if (e > max_rel_bound * max_ref && shown < 5) {
      bad << "\n  [" << i << "] got " << got[i] << ", ref " << ref[i] << ", |diff| " << e;
      ++shown;
    }
  }
  const double rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (nonfinite > 0 || rel_l2 > rel_l2_bound || max_err > max_rel_bound * max_ref) {
    return ::testing::AssertionFailure()
           << ref.size() << " elements: " << nonfinite << " not finite, rel L2 " << rel_l2
           << " (bound " << rel_l2_bound << "), max|diff| " << max_err << " (bound "
           << max_rel_bound * max_ref << ")" << bad.str();
  }
  return ::testing::AssertionSuccess();
}

namespace {
// Spacing of the dtype's values at magnitude v >= 0 (p mantissa bits, smallest
// normal 2^emin): 2^(emin - p + 1) among the subnormals, else 2^(e - p + 1)
// for v in [2^e, 2^(e+1)). binary16: p = 11, emin = -14; binary32: 24, -126.
double ulp_at(double v, xsep_dtype dtype) {
  const int p = dtype == XSEP_DTYPE_F16 ? 11 : 24, emin = dtype == XSEP_DTYPE_F16 ? -14 : -126;
  if (v < std::ldexp(1.0, emin)) return std::ldexp(1.0, emin - p + 1);
  int e;
  std::frexp(v, &e);  // v = m * 2^e, m in [0.5, 1): v in [2^(e-1), 2^e)
  return std::ldexp(1.0, e - 1 - p + 1);
}
}  // namespace

::testing::AssertionResult rounds_to_nearest(const std::vector<double>& ref, const std::vector<double>& got,
                                             xsep_dtype dtype, double floor_rel, double scale) {
  if (ref.size() != got.size())
    return ::testing::AssertionFailure() << "size mismatch: ref " << ref.size() << " vs got " << got.size();
  double max_ref = 0;
  for (double r : ref)
    if (std::isfinite(r)) max_ref = std::max(max_ref, std::fabs(r));
  const double floor = floor_rel * std::max(max_ref, scale);
  size_t over = 0;
  std::ostringstream bad;
  bad.precision(17);
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(ref[i])) continue;
    const double e = std::fabs(got[i] - ref[i]);
    // The reference's binade: just below 2^k its neighbours are 2^k - ulp and
    // 2^k, and the nearest is within half of the lower ulp.
    const double bound = 0.5 * ulp_at(std::fabs(ref[i]), dtype) + floor;
    if (!(e <= bound)) {
      if (over < 5) bad << "\n  [" << i << "] got " << got[i] << ", ref " << ref[i] << ", |diff| " << e
                        << " > " << bound;
      ++over;
    }
  }
  if (over)
    return ::testing::AssertionFailure() << over << " of " << ref.size() << " elements are not the reference rounded to the nearest "
                                         << (dtype == XSEP_DTYPE_F16 ? "float16" : "float32") << " (half an ulp + "
                                         << floor << ")" << bad.str();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult matches_reference_with_nans(const std::vector<double>& ref,
                                                       const std::vector<double>& got, xsep_dtype dtype) {
  if (ref.size() != got.size()) {
    return ::testing::AssertionFailure() << "size mismatch: ref " << ref.size() << " vs got " << got.size();
  }
  std::vector<double> ref_rest, got_rest;
  size_t nans = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(ref[i]) != std::isnan(got[i]))
      return ::testing::AssertionFailure() << "[" << i << "] got " << got[i] << ", ref " << ref[i]
                                           << ": NaN in one and not in the other";
    if (std::isnan(ref[i])) {
      ++nans;
      continue;
    }
    ref_rest.push_back(ref[i]);
    got_rest.push_back(got[i]);
  }
  // A case whose reference has no NaN, or nothing else, checks nothing here.
  if (nans == 0 || ref_rest.empty())
    return ::testing::AssertionFailure() << "the reference has " << nans << " NaN of " << ref.size()
                                         << " elements: the case does not test propagation";
  return matches_reference(ref_rest, got_rest, dtype);
}

}  // namespace xsep_test
