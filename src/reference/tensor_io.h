// The reference's own tensor access: converts between a tensor in memory
// (float32 or float16, NCHW or NHWC) and a dense NCHW array of doubles, with a
// hand-written IEEE binary16 conversion (no CUDA header, no kernel code).
#pragma once

#include <cstdint>
#include <vector>

#include "xsep/xsep.h"

namespace xsep::ref {

double half_bits_to_double(uint16_t h);
uint16_t double_to_half_bits(double v);  // round to nearest, ties to even

// A dense NCHW tensor of doubles: the reference computes everything in these.
struct Planes {
  int64_t n = 0, c = 0, h = 0, w = 0;
  std::vector<double> v;
  Planes(int64_t n_, int64_t c_, int64_t h_, int64_t w_)
      : n(n_), c(c_), h(h_), w(w_), v(static_cast<size_t>(n_ * c_ * h_ * w_), 0.0) {}
  double& at(int64_t in, int64_t ic, int64_t ih, int64_t iw) {
    return v[static_cast<size_t>(((in * c + ic) * h + ih) * w + iw)];
  }
  // Zero outside 0 <= ih < h, 0 <= iw < w: the implicit zero padding of SPEC 2.
  double get(int64_t in, int64_t ic, int64_t ih, int64_t iw) const {
    if (ih < 0 || ih >= h || iw < 0 || iw >= w) return 0.0;
    return v[static_cast<size_t>(((in * c + ic) * h + ih) * w + iw)];
  }
};

Planes load(const void* data, int64_t n, int64_t c, int64_t h, int64_t w, xsep_dtype dtype,
            xsep_layout layout);
// Rounds each double once to `dtype` and writes it at its place in `layout`.
void store(const Planes& p, xsep_dtype dtype, xsep_layout layout, void* data);

// y = act(acc * scale[c] + bias[c]) in double, in place, per SPEC 2.4.
void apply_epilogue(const xsep_epilogue* ep, Planes* p);

}  // namespace xsep::ref
