// The naive CPU reference (include/xsep/reference.h): each operator is the
// formula of SPEC section 2 written as a loop nest over doubles. Slow on
// purpose; obviously right is the only goal.
#include "xsep/reference.h"

#include <cinttypes>
#include <new>

#include "../api/error.h"
#include "../api/validate.h"
#include "tensor_io.h"

namespace xsep::ref {
namespace {

using detail::Problem;

// SPEC 2.1: the (row, column) offset of tap (0, 0) relative to the output pixel.
// TOP pads a zero row above: y(h) reads x(h-1+i); BOTTOM: x(h+i). Likewise LEFT/RIGHT.
void direction_offsets(xsep_pad d, int64_t* dh, int64_t* dw) {
  *dh = (d == XSEP_PAD_TOP_LEFT || d == XSEP_PAD_TOP_RIGHT) ? -1 : 0;
  *dw = (d == XSEP_PAD_TOP_LEFT || d == XSEP_PAD_BOTTOM_LEFT) ? -1 : 0;
}

Planes conv2x2(const Planes& x, const float* w, xsep_pad pad) {
  Planes y(x.n, x.c, x.h, x.w);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c) {
      const xsep_pad d = pad == XSEP_PAD_SYMMETRIC ? detail::symmetric_direction(c, x.c) : pad;
      int64_t dh, dw;
      direction_offsets(d, &dh, &dw);
      for (int64_t h = 0; h < x.h; ++h)
        for (int64_t ww = 0; ww < x.w; ++ww) {
          double acc = 0;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j)
              acc += static_cast<double>(w[c * 4 + i * 2 + j]) * x.get(n, c, h + dh + i, ww + dw + j);
          y.at(n, c, h, ww) = acc;
        }
    }
  return y;
}

// SPEC 2.2: y(h, w) = sum_j w[c][j] x(h, s*w - K/2 + j).
Planes conv1xk(const Planes& x, const float* w, int64_t k, int64_t s, int64_t wo) {
  Planes y(x.n, x.c, x.h, wo);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t h = 0; h < x.h; ++h)
        for (int64_t ww = 0; ww < wo; ++ww) {
          double acc = 0;
          for (int64_t j = 0; j < k; ++j)
            acc += static_cast<double>(w[c * k + j]) * x.get(n, c, h, s * ww - k / 2 + j);
          y.at(n, c, h, ww) = acc;
        }
  return y;
}

// SPEC 2.2: y(h, w) = sum_i w[c][i] x(s*h - K/2 + i, w).
Planes convkx1(const Planes& x, const float* w, int64_t k, int64_t s, int64_t ho) {
  Planes y(x.n, x.c, ho, x.w);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t h = 0; h < ho; ++h)
        for (int64_t ww = 0; ww < x.w; ++ww) {
          double acc = 0;
          for (int64_t i = 0; i < k; ++i)
            acc += static_cast<double>(w[c * k + i]) * x.get(n, c, s * h - k / 2 + i, ww);
          y.at(n, c, h, ww) = acc;
        }
  return y;
}

// SPEC 2.3: y(h, w) = sum_ij w[c][i][j] x(s*h - K/2 + i, s*w - K/2 + j).
Planes convkxk(const Planes& x, const float* w, int64_t k, int64_t s, int64_t ho, int64_t wo) {
  Planes y(x.n, x.c, ho, wo);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t c = 0; c < x.c; ++c)
      for (int64_t h = 0; h < ho; ++h)
        for (int64_t ww = 0; ww < wo; ++ww) {
          double acc = 0;
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j)
              acc += static_cast<double>(w[(c * k + i) * k + j]) *
                     x.get(n, c, s * h - k / 2 + i, s * ww - k / 2 + j);
          y.at(n, c, h, ww) = acc;
        }
  return y;
}

Planes load_x(const Problem& p, const void* x) {
  return load(x, p.n, p.c, p.h, p.w, p.dtype, p.layout);
}

// Runs `compute` (which allocates float64 copies of the tensors, writing y only
// at its end) and turns running out of host memory into a status: an exception
// must not cross the C API, and y is untouched when the allocation fails.
template <class Compute>
xsep_status guarded(const char* fn, const xsep::detail::Problem& p, Compute compute) {
  try {
    compute();
  } catch (const std::bad_alloc&) {
    return xsep::detail::fail(XSEP_STATUS_OUT_OF_MEMORY, fn,
                              "host memory for the reference's float64 copies of x (%" PRId64
                              " elements) and its intermediates ran out; y was not written",
                              p.x_elems);
  }
  return XSEP_STATUS_SUCCESS;
}

}  // namespace
}  // namespace xsep::ref

using xsep::detail::Op;
using xsep::detail::Problem;
using namespace xsep::ref;

extern "C" {

xsep_status xsep_ref_dwconv2x2(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                               xsep_pad pad, const xsep_epilogue* ep, void* y, cudaStream_t) {
  Problem p;
  if (xsep_status s = xsep::detail::validate_dwconv("xsep_ref_dwconv2x2", Op::k2x2, x_desc, x, w,
                                                    0, 1, pad, ep, y, &p))
    return s;
  return guarded("xsep_ref_dwconv2x2", p, [&] {
    Planes out = conv2x2(load_x(p, x), w, p.pad);
    apply_epilogue(ep, &out);
    store(out, p.dtype, p.layout, y);
  });
}

xsep_status xsep_ref_dwconv1xk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                               int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                               cudaStream_t) {
  Problem p;
  if (xsep_status s = xsep::detail::validate_dwconv("xsep_ref_dwconv1xk", Op::k1xK, x_desc, x, w,
                                                    k, stride, XSEP_PAD_TOP_LEFT, ep, y, &p))
    return s;
  return guarded("xsep_ref_dwconv1xk", p, [&] {
    Planes out = conv1xk(load_x(p, x), w, p.k, p.stride, p.wo);
    apply_epilogue(ep, &out);
    store(out, p.dtype, p.layout, y);
  });
}

xsep_status xsep_ref_dwconvkx1(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                               int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                               cudaStream_t) {
  Problem p;
  if (xsep_status s = xsep::detail::validate_dwconv("xsep_ref_dwconvkx1", Op::kKx1, x_desc, x, w,
                                                    k, stride, XSEP_PAD_TOP_LEFT, ep, y, &p))
    return s;
  return guarded("xsep_ref_dwconvkx1", p, [&] {
    Planes out = convkx1(load_x(p, x), w, p.k, p.stride, p.ho);
    apply_epilogue(ep, &out);
    store(out, p.dtype, p.layout, y);
  });
}

xsep_status xsep_ref_dwconvkxk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                               int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                               cudaStream_t) {
  Problem p;
  if (xsep_status s = xsep::detail::validate_dwconv("xsep_ref_dwconvkxk", Op::kKxK, x_desc, x, w,
                                                    k, stride, XSEP_PAD_TOP_LEFT, ep, y, &p))
    return s;
  return guarded("xsep_ref_dwconvkxk", p, [&] {
    Planes out = convkxk(load_x(p, x), w, p.k, p.stride, p.ho, p.wo);
    apply_epilogue(ep, &out);
    store(out, p.dtype, p.layout, y);
  });
}

// SPEC 2.5: the three passes in double; each intermediate is a whole tensor, so
// its zero padding is exactly "zero outside the intermediate's bounds".
xsep_status xsep_ref_xsepconv(const xsep_tensor_desc* x_desc, const void* x,
                              const xsep_xsepconv_params* prm, void* y, cudaStream_t) {
  Problem p;
  if (xsep_status s = xsep::detail::validate_xsepconv("xsep_ref_xsepconv", x_desc, x, prm, y, &p))
    return s;
  return guarded("xsep_ref_xsepconv", p, [&] {
    Planes t1 = conv2x2(load_x(p, x), prm->w2x2, p.pad);
    apply_epilogue(&prm->ep2x2, &t1);
    Planes t2 = conv1xk(t1, prm->w1xk, p.k, p.stride, p.wo);
    apply_epilogue(&prm->ep1xk, &t2);
    Planes out = convkx1(t2, prm->wkx1, p.k, p.stride, p.ho);
    apply_epilogue(&prm->epkx1, &out);
    store(out, p.dtype, p.layout, y);
  });
}

}  // extern "C"
