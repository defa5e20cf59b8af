// The accuracy contract of SPEC section 5 as a GoogleTest assertion, plus the
// small host-side helpers every test needs (random data, float16 round trips).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "xsep/xsep.h"

namespace xsep_test {

// float16 <-> float conversions for test data (IEEE binary16, round to nearest even).
uint16_t f32_to_f16_bits(float v);
float f16_bits_to_f32(uint16_t h);

// Bytes of `values` stored as dtype (float32, or float16 rounded to nearest even).
std::vector<unsigned char> encode(const std::vector<float>& values, xsep_dtype dtype);
// The values of a buffer of `count` elements of dtype, as doubles.
std::vector<double> decode(const void* data, size_t count, xsep_dtype dtype);

// Uniform random floats in [lo, hi), never all zero; seeded for reproducibility.
std::vector<float> random_floats(size_t count, float lo, float hi, uint32_t seed);

// SPEC 5: every element finite, ||got-ref||2/||ref||2 <= rel_l2 and
// max|got-ref| <= max_rel * max|ref| with the dtype's bounds. On failure the
// message names the first few mismatching flat indices.
::testing::AssertionResult matches_reference(const std::vector<double>& ref,
                                             const std::vector<double>& got, xsep_dtype dtype);

// Outputs of dtype against the unrounded reference (float64, or a float32
// output for float16 results, 2^-24 relative): each element is the reference
// rounded to the nearest value of dtype, within half an ulp of the reference's
// binade, plus floor_rel * scale for the arithmetic's own error where a sum
// cancels. scale: the largest magnitude the arithmetic handled, which is
// max|ref| or more: pass the largest |bias| too, since acc * scale + bias can
// cancel to a small y whose float32 error follows |bias|. Non-finite reference
// elements are skipped (matches_reference* judge them).
//   - Kernels, float16, floor 1e-5 (float32 accumulation): SPEC 2's float32
//     accumulation and round to nearest even on store, 2.5's float32
//     intermediates. SPEC 5's bounds (4e-3 * max|ref|, ~8 ulps at the top of
//     the range) let through a float16 intermediate, float16 arithmetic or
//     rounding toward zero; this does not.
//   - The C reference against the float64 goldens, floor 1e-12: it accumulates
//     in double and rounds once (reference.h).
::testing::AssertionResult rounds_to_nearest(const std::vector<double>& ref, const std::vector<double>& got,
                                             xsep_dtype dtype, double floor_rel, double scale = 0);

// The SPEC 5 check for outputs of inputs that hold NaN: NaN exactly where the
// reference has NaN (PyTorch's and ONNX Runtime's propagation), and
// matches_reference on every other element. Fails when the reference has no
// NaN or only NaN.
::testing::AssertionResult matches_reference_with_nans(const std::vector<double>& ref,
                                                       const std::vector<double>& got, xsep_dtype dtype);

}  // namespace xsep_test
