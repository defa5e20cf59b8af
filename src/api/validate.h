// Argument validation shared by the reference (xsep_ref_*) and the device
// operators (xsep_*): the whole bad-input contract lives here, so both entry
// points refuse exactly the same calls with the same messages.
#pragma once

#include <cstdint>

#include "xsep/xsep.h"

namespace xsep::detail {

enum class Op { k2x2, k1xK, kKx1, kKxK, kXSep };

// The largest K provided, and the size limits (xsep.h says why).
constexpr int32_t kMaxK = XSEP_MAX_K;
constexpr int64_t kMaxElements = XSEP_MAX_ELEMENTS;
constexpr int64_t kMaxSide = XSEP_MAX_SIDE;

// A validated call: enum values read back as plain ints and the output shape.
struct Problem {
  Op op;
  int64_t n, c, h, w;       // input
  int64_t ho, wo;           // output (same n, c)
  xsep_dtype dtype;
  xsep_layout layout;
  int32_t k;                // 2 for the 2x2 op
  int32_t stride;           // 1 for the 2x2 op
  xsep_pad pad;             // 2x2 direction (2x2 op and XSepConv), else TOP_LEFT
  int64_t x_elems, y_elems;
  int64_t elem_bytes;
};

// The four single depthwise operators. `pad` is used only by Op::k2x2 (pass
// XSEP_PAD_TOP_LEFT otherwise); k and stride are ignored for it.
xsep_status validate_dwconv(const char* fn, Op op, const xsep_tensor_desc* x_desc, const void* x,
                            const float* w, int32_t k, int32_t stride, const xsep_pad& pad,
                            const xsep_epilogue* ep, const void* y, Problem* out);

xsep_status validate_xsepconv(const char* fn, const xsep_tensor_desc* x_desc, const void* x,
                              const xsep_xsepconv_params* p, const void* y, Problem* out);

// The integer behind an enum a C caller passed, read without an enum-typed load
// (a value outside the enum would be undefined behaviour to load in C++).
template <class E>
int enum_value(const E& e) {
  static_assert(sizeof(E) == sizeof(int), "C enums are int-sized on our ABIs");
  int v;
  __builtin_memcpy(&v, &e, sizeof v);
  return v;
}

// SYMMETRIC padding: the direction of channel c among C channels. Groups are
// numpy.array_split(range(C), 4): with C = 4q + m the first m groups hold q+1
// channels; groups use BOTTOM_RIGHT, TOP_LEFT, BOTTOM_LEFT, TOP_RIGHT.
// (Host-side helper for the reference; the kernels carry their own copy.)
xsep_pad symmetric_direction(int64_t c, int64_t channels);

}  // namespace xsep::detail
