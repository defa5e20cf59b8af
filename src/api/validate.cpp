// The bad-input contract of every operator (see validate.h).
#include "validate.h"

#include <cinttypes>
#include <string>

#include "error.h"

namespace xsep::detail {
namespace {

const char* op_name(Op op) {
  switch (op) {
    case Op::k2x2: return "2x2";
    case Op::k1xK: return "1xK";
    case Op::kKx1: return "Kx1";
    case Op::kKxK: return "KxK";
    case Op::kXSep: return "XSepConv";
  }
  return "?";
}

xsep_status check_desc(const char* fn, const xsep_tensor_desc* d, Problem* p) {
  if (d == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "x_desc is NULL");
  const int64_t dims[4] = {d->n, d->c, d->h, d->w};
  const char* names[4] = {"n", "c", "h", "w"};
  for (int i = 0; i < 4; ++i) {
    if (dims[i] < 1) {
      return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "x_desc->%s = %" PRId64 "; it must be >= 1",
                  names[i], dims[i]);
    }
  }
  const int dtype = enum_value(d->dtype);
  if (dtype != XSEP_DTYPE_F32 && dtype != XSEP_DTYPE_F16) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "x_desc->dtype = %d; allowed: XSEP_DTYPE_F32 (0), XSEP_DTYPE_F16 (1)", dtype);
  }
  const int layout = enum_value(d->layout);
  if (layout != XSEP_LAYOUT_NCHW && layout != XSEP_LAYOUT_NHWC) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "x_desc->layout = %d; allowed: XSEP_LAYOUT_NCHW (0), XSEP_LAYOUT_NHWC (1)", layout);
  }
  int64_t elems = 0;
  if (__builtin_mul_overflow(d->n, d->c, &elems) || __builtin_mul_overflow(elems, d->h, &elems) ||
      __builtin_mul_overflow(elems, d->w, &elems) || elems > INT64_MAX / 8) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "x_desc n*c*h*w = %" PRId64 "*%" PRId64 "*%" PRId64 "*%" PRId64
                " overflows a 64-bit byte count",
                d->n, d->c, d->h, d->w);
  }
  if (d->c > kMaxSide || d->h > kMaxSide || d->w > kMaxSide) {
    return fail(XSEP_STATUS_UNSUPPORTED, fn,
                "x_desc c = %" PRId64 ", h = %" PRId64 ", w = %" PRId64 "; each may be at most 2^30", d->c,
                d->h, d->w);
  }
  if (elems > kMaxElements) {
    return fail(XSEP_STATUS_UNSUPPORTED, fn,
                "x has %" PRId64 " elements; at most 2^31-1 per tensor are supported", elems);
  }
  p->n = d->n;
  p->c = d->c;
  p->h = d->h;
  p->w = d->w;
  p->dtype = static_cast<xsep_dtype>(dtype);
  p->layout = static_cast<xsep_layout>(layout);
  p->x_elems = elems;
  p->elem_bytes = dtype == XSEP_DTYPE_F32 ? 4 : 2;
  return XSEP_STATUS_SUCCESS;
}

xsep_status check_k_stride(const char* fn, Op op, int32_t k, int32_t stride) {
  if (k < 1 || k % 2 == 0) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "k = %d for the %s pass; k must be odd and >= 1 (provided: 1..%d)",
                static_cast<int>(k), op_name(op), kMaxK);
  }
  if (k > kMaxK) {
    return fail(XSEP_STATUS_UNSUPPORTED, fn, "k = %d; kernels are provided for odd k up to %d",
                static_cast<int>(k), kMaxK);
  }
  if (stride < 1) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "stride = %d; it must be >= 1 (provided: 1, 2)",
                static_cast<int>(stride));
  }
  if (stride > 2) {
    return fail(XSEP_STATUS_UNSUPPORTED, fn, "stride = %d; strides 1 and 2 are provided",
                static_cast<int>(stride));
  }
  return XSEP_STATUS_SUCCESS;
}

xsep_status check_pad(const char* fn, const char* what, const xsep_pad& pad, xsep_pad* out) {
  const int v = enum_value(pad);
  if (v < XSEP_PAD_TOP_LEFT || v > XSEP_PAD_SYMMETRIC) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "%s = %d; allowed: XSEP_PAD_TOP_LEFT (0) .. XSEP_PAD_SYMMETRIC (4)", what, v);
  }
  *out = static_cast<xsep_pad>(v);
  return XSEP_STATUS_SUCCESS;
}

// A float array argument: non-NULL when required, 4-byte aligned always (a
// misaligned float load is a sticky error that kills a CUDA context).
xsep_status check_floats(const char* fn, const char* what, const float* p, bool required) {
  if (p == nullptr) {
    if (required) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "%s is NULL", what);
    return XSEP_STATUS_SUCCESS;
  }
  if (reinterpret_cast<uintptr_t>(p) % alignof(float) != 0)
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "%s (%p) is not aligned to 4 bytes", what,
                static_cast<const void*>(p));
  return XSEP_STATUS_SUCCESS;
}

xsep_status check_epilogue(const char* fn, const char* what, const xsep_epilogue* ep) {
  if (ep == nullptr) return XSEP_STATUS_SUCCESS;  // identity
  const std::string scale = std::string(what) + ".scale", bias = std::string(what) + ".bias";
  if (xsep_status s = check_floats(fn, scale.c_str(), ep->scale, false)) return s;
  if (xsep_status s = check_floats(fn, bias.c_str(), ep->bias, false)) return s;
  const int act = enum_value(ep->act);
  if (act < XSEP_ACT_NONE || act > XSEP_ACT_HARDSWISH) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "%s.act = %d; allowed: XSEP_ACT_NONE (0) .. XSEP_ACT_HARDSWISH (3)", what, act);
  }
  return XSEP_STATUS_SUCCESS;
}

// Output extent of an axis of size n filtered with stride s and "same" padding.
int64_t strided(int64_t n, int32_t s) { return (n - 1) / s + 1; }

constexpr int64_t kFloatBytes = sizeof(float);  // weights, scales, biases

// An array the call reads (`bytes` at `a`; NULL: none) must not overlap y: the
// kernels write y while other blocks still read x, the weights and the epilogue
// parameters, so an overlap is a race, not a well-defined in-place operation.
// y_elems must be set.
xsep_status check_not_in_y(const char* fn, const char* what, const void* a, int64_t bytes, const void* y,
                           const Problem& p) {
  if (a == nullptr) return XSEP_STATUS_SUCCESS;
  const uintptr_t ab = reinterpret_cast<uintptr_t>(a), ae = ab + static_cast<uintptr_t>(bytes);
  const uintptr_t yb = reinterpret_cast<uintptr_t>(y);
  const uintptr_t ye = yb + static_cast<uintptr_t>(p.y_elems * p.elem_bytes);
  if (ab < ye && yb < ae) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "%s [%p, +%" PRId64 " bytes) and y [%p, +%" PRId64
                " bytes) overlap; y must not alias an input (in-place operation is not supported)",
                what, a, bytes, y, p.y_elems * p.elem_bytes);
  }
  return XSEP_STATUS_SUCCESS;
}

xsep_status check_buffers(const char* fn, const void* x, const void* y, Problem* p) {
  p->y_elems = p->n * p->c * p->ho * p->wo;  // <= x_elems: no overflow
  if (x == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "x is NULL");
  if (y == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "y is NULL");
  if (xsep_status s = check_not_in_y(fn, "x", x, p->x_elems * p->elem_bytes, y, *p)) return s;
  const uintptr_t align = static_cast<uintptr_t>(p->elem_bytes);
  if (reinterpret_cast<uintptr_t>(x) % align != 0 || reinterpret_cast<uintptr_t>(y) % align != 0) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                "x (%p) and y (%p) must be aligned to their element size (%" PRId64 " bytes)", x,
                y, p->elem_bytes);
  }
  return XSEP_STATUS_SUCCESS;
}

// A weight array of [C][taps] floats: the kernels index it with 32-bit ints.
xsep_status check_weight_count(const char* fn, const char* what, const Problem& p, int64_t taps) {
  if (p.c * taps > kMaxElements)
    return fail(XSEP_STATUS_UNSUPPORTED, fn,
                "%s holds c * %" PRId64 " = %" PRId64 " floats; at most 2^31-1 are supported", what, taps,
                p.c * taps);
  return XSEP_STATUS_SUCCESS;
}

// An epilogue's scale and bias ([C] each) against y.
xsep_status check_epilogue_not_in_y(const char* fn, const char* what, const xsep_epilogue* ep,
                                    const void* y, const Problem& p) {
  if (ep == nullptr) return XSEP_STATUS_SUCCESS;
  const std::string scale = std::string(what) + ".scale", bias = std::string(what) + ".bias";
  if (xsep_status s = check_not_in_y(fn, scale.c_str(), ep->scale, p.c * kFloatBytes, y, p)) return s;
  return check_not_in_y(fn, bias.c_str(), ep->bias, p.c * kFloatBytes, y, p);
}

}  // namespace

xsep_status validate_dwconv(const char* fn, Op op, const xsep_tensor_desc* x_desc, const void* x,
                            const float* w, int32_t k, int32_t stride, const xsep_pad& pad,
                            const xsep_epilogue* ep, const void* y, Problem* out) {
  Problem p{};
  p.op = op;
  if (xsep_status s = check_desc(fn, x_desc, &p)) return s;
  if (op == Op::k2x2) {
    if (xsep_status s = check_pad(fn, "pad", pad, &p.pad)) return s;
    p.k = 2;
    p.stride = 1;
  } else {
    if (xsep_status s = check_k_stride(fn, op, k, stride)) return s;
    p.k = k;
    p.stride = stride;
    p.pad = XSEP_PAD_TOP_LEFT;
  }
  if (xsep_status s = check_floats(fn, "w (weights)", w, true)) return s;
  if (xsep_status s = check_epilogue(fn, "ep", ep)) return s;
  const bool strides_h = op == Op::kKx1 || op == Op::kKxK;
  const bool strides_w = op == Op::k1xK || op == Op::kKxK;
  p.ho = strides_h ? strided(p.h, p.stride) : p.h;
  p.wo = strides_w ? strided(p.w, p.stride) : p.w;
  if (xsep_status s = check_buffers(fn, x, y, &p)) return s;
  const int64_t taps = op == Op::k2x2 ? 4 : op == Op::kKxK ? int64_t{k} * k : k;  // w: [C][taps]
  if (xsep_status s = check_weight_count(fn, "w (weights)", p, taps)) return s;
  if (xsep_status s = check_not_in_y(fn, "w (weights)", w, p.c * taps * kFloatBytes, y, p)) return s;
  if (xsep_status s = check_epilogue_not_in_y(fn, "ep", ep, y, p)) return s;
  *out = p;
  return XSEP_STATUS_SUCCESS;
}

xsep_status validate_xsepconv(const char* fn, const xsep_tensor_desc* x_desc, const void* x,
                              const xsep_xsepconv_params* params, const void* y, Problem* out) {
  Problem p{};
  p.op = Op::kXSep;
  if (xsep_status s = check_desc(fn, x_desc, &p)) return s;
  if (params == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "params is NULL");
  if (xsep_status s = check_k_stride(fn, Op::kXSep, params->k, params->stride)) return s;
  if (xsep_status s = check_pad(fn, "params->pad", params->pad, &p.pad)) return s;
  if (xsep_status s = check_floats(fn, "params->w2x2", params->w2x2, true)) return s;
  if (xsep_status s = check_floats(fn, "params->w1xk", params->w1xk, true)) return s;
  if (xsep_status s = check_floats(fn, "params->wkx1", params->wkx1, true)) return s;
  if (xsep_status s = check_epilogue(fn, "params->ep2x2", &params->ep2x2)) return s;
  if (xsep_status s = check_epilogue(fn, "params->ep1xk", &params->ep1xk)) return s;
  if (xsep_status s = check_epilogue(fn, "params->epkx1", &params->epkx1)) return s;
  p.k = params->k;
  p.stride = params->stride;
  p.ho = strided(p.h, p.stride);
  p.wo = strided(p.w, p.stride);
  if (xsep_status s = check_buffers(fn, x, y, &p)) return s;
  if (xsep_status s = check_weight_count(fn, "params->w2x2", p, 4)) return s;
  if (xsep_status s = check_weight_count(fn, "params->w1xk", p, p.k)) return s;
  if (xsep_status s = check_not_in_y(fn, "params->w2x2", params->w2x2, p.c * 4 * kFloatBytes, y, p)) return s;
  if (xsep_status s = check_not_in_y(fn, "params->w1xk", params->w1xk, p.c * p.k * kFloatBytes, y, p)) return s;
  if (xsep_status s = check_not_in_y(fn, "params->wkx1", params->wkx1, p.c * p.k * kFloatBytes, y, p)) return s;
  if (xsep_status s = check_epilogue_not_in_y(fn, "params->ep2x2", &params->ep2x2, y, p)) return s;
  if (xsep_status s = check_epilogue_not_in_y(fn, "params->ep1xk", &params->ep1xk, y, p)) return s;
  if (xsep_status s = check_epilogue_not_in_y(fn, "params->epkx1", &params->epkx1, y, p)) return s;
  *out = p;
  return XSEP_STATUS_SUCCESS;
}

xsep_pad symmetric_direction(int64_t c, int64_t channels) {
  static const xsep_pad kOrder[4] = {XSEP_PAD_BOTTOM_RIGHT, XSEP_PAD_TOP_LEFT,
                                     XSEP_PAD_BOTTOM_LEFT, XSEP_PAD_TOP_RIGHT};
  const int64_t q = channels / 4, m = channels % 4;
  const int64_t big = m * (q + 1);  // channels held by the m groups of size q+1
  const int64_t group = c < big ? c / (q + 1) : m + (c - big) / q;
  return kOrder[group];
}

}  // namespace xsep::detail
