// Tensor conversion and the epilogue for the naive reference (tensor_io.h).
#include "tensor_io.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace xsep::ref {

double half_bits_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int frac = h & 0x3ff;
  double mag;
  if (exp == 0) {
    mag = std::ldexp(static_cast<double>(frac), -24);  // subnormal: frac * 2^-24
  } else if (exp == 31) {
    mag = frac == 0 ? INFINITY : NAN;
  } else {
    mag = std::ldexp(static_cast<double>(1024 + frac), exp - 25);  // 1.frac * 2^(exp-15)
  }
  return sign ? -mag : mag;
}

uint16_t double_to_half_bits(double v) {
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  if (std::isnan(v)) return 0x7e00;
  double a = std::fabs(v);
  if (a >= 65520.0) return sign | 0x7c00;  // rounds to infinity (max half is 65504)
  // Quantum (spacing of representable halves) at a's binade: 2^(e-10) for
  // normal numbers, 2^-24 below 2^-14. Round a / quantum to an integer,
  // nearest-even, then rebuild the bits.
  int e;
  std::frexp(a, &e);  // a = m * 2^e, 0.5 <= m < 1  => binade exponent e-1
  int binade = std::max(e - 1, -14);
  double q = std::ldexp(1.0, binade - 10);
  double units = std::nearbyint(a / q);  // default rounding mode: ties to even
  if (units >= 2048.0) {  // rounded up into the next binade
    units /= 2.0;
    binade += 1;
  }
  if (units < 1024.0) return sign | static_cast<uint16_t>(units);  // subnormal (binade -14)
  if (binade > 15) return sign | 0x7c00;
  return sign | static_cast<uint16_t>(((binade + 15) << 10) | (static_cast<int>(units) - 1024));
}

namespace {
// Offset of logical element (n, c, h, w) in the given layout.
int64_t offset(xsep_layout layout, int64_t C, int64_t H, int64_t W, int64_t n, int64_t c,
               int64_t h, int64_t w) {
  return layout == XSEP_LAYOUT_NCHW ? ((n * C + c) * H + h) * W + w
                                    : ((n * H + h) * W + w) * C + c;
}
}  // namespace

Planes load(const void* data, int64_t n, int64_t c, int64_t h, int64_t w, xsep_dtype dtype,
            xsep_layout layout) {
  Planes p(n, c, h, w);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < w; ++iw) {
          const int64_t o = offset(layout, c, h, w, in, ic, ih, iw);
          double v;
          if (dtype == XSEP_DTYPE_F32) {
            float f;
            std::memcpy(&f, static_cast<const char*>(data) + o * 4, 4);
            v = f;
          } else {
            uint16_t b;
            std::memcpy(&b, static_cast<const char*>(data) + o * 2, 2);
            v = half_bits_to_double(b);
          }
          p.at(in, ic, ih, iw) = v;
        }
  return p;
}

void store(const Planes& p, xsep_dtype dtype, xsep_layout layout, void* data) {
  for (int64_t in = 0; in < p.n; ++in)
    for (int64_t ic = 0; ic < p.c; ++ic)
      for (int64_t ih = 0; ih < p.h; ++ih)
        for (int64_t iw = 0; iw < p.w; ++iw) {
          const int64_t o = offset(layout, p.c, p.h, p.w, in, ic, ih, iw);
          const double v = p.get(in, ic, ih, iw);
          if (dtype == XSEP_DTYPE_F32) {
            const float f = static_cast<float>(v);  // one rounding, to nearest
            std::memcpy(static_cast<char*>(data) + o * 4, &f, 4);
          } else {
            const uint16_t b = double_to_half_bits(v);
            std::memcpy(static_cast<char*>(data) + o * 2, &b, 2);
          }
        }
}

void apply_epilogue(const xsep_epilogue* ep, Planes* p) {
  if (ep == nullptr) return;
  for (int64_t in = 0; in < p->n; ++in)
    for (int64_t ic = 0; ic < p->c; ++ic)
      for (int64_t ih = 0; ih < p->h; ++ih)
        for (int64_t iw = 0; iw < p->w; ++iw) {
          double v = p->at(in, ic, ih, iw);
          if (ep->scale != nullptr) v *= ep->scale[ic];
          if (ep->bias != nullptr) v += ep->bias[ic];
          switch (ep->act) {
            case XSEP_ACT_NONE: break;
            // Written so that NaN stays NaN (std::max(0.0, NaN) would be 0), and
            // with <= so that -0.0 becomes +0.0 (IEEE maximum, as the kernels do).
            case XSEP_ACT_RELU: v = v <= 0.0 ? 0.0 : v; break;
            case XSEP_ACT_RELU6: v = v <= 0.0 ? 0.0 : v > 6.0 ? 6.0 : v; break;
            case XSEP_ACT_HARDSWISH: {
              const double r = v + 3.0 < 0.0 ? 0.0 : v + 3.0 > 6.0 ? 6.0 : v + 3.0;
              v = v * r / 6.0;
              break;
            }
          }
          p->at(in, ic, ih, iw) = v;
        }
}

}  // namespace xsep::ref
