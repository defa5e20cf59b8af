// The device operators of the C API: validate (validate.cpp), check that a
// device is there, translate to the kernels' arguments and launch.
#include "../../kernels/launch.h"
#include "error.h"
#include "validate.h"

#if defined(XSEP_EMU)
#include "../../kernels/emu/emu_runtime.h"
#else
#include <cuda_runtime.h>
#endif

namespace xsep::detail {
namespace {

// XSEP_STATUS_NO_DEVICE when the CUDA runtime sees no usable GPU. Without a
// driver cudaGetDeviceCount fails rather than returning 0: any error counts as
// "no device" and is cleared so it does not leak into the caller's next check.
xsep_status check_device(const char* fn) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (e != cudaSuccess) (void)cudaGetLastError();
    return fail(XSEP_STATUS_NO_DEVICE, fn, "no usable CUDA device (%s)",
                e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
  }
  return XSEP_STATUS_SUCCESS;
}

xsep_status launched(const char* fn, int cuda_error) {
  if (cuda_error == 0) return XSEP_STATUS_SUCCESS;
  if (cuda_error == kernels::kErrorNoTileFits)
    return fail(XSEP_STATUS_UNSUPPORTED, fn,
                "even the smallest tile of this problem needs more shared memory than this device "
                "gives a block (K and stride set its halo); nothing was launched");
  const cudaError_t e = static_cast<cudaError_t>(cuda_error);
  // Reported here; clear the runtime's pending copy so the caller's next
  // cudaGetLastError() is not blamed on us (a sticky error stays anyway).
  (void)cudaGetLastError();
  return fail(e == cudaErrorMemoryAllocation ? XSEP_STATUS_OUT_OF_MEMORY : XSEP_STATUS_DEVICE_ERROR,
              fn, "kernel launch failed: %s", cudaGetErrorString(e));
}

xsep_epilogue epilogue_or_identity(const xsep_epilogue* ep) {
  return ep != nullptr ? *ep : xsep_epilogue{nullptr, nullptr, XSEP_ACT_NONE};
}

// 2x2 direction -> zero rows above / columns to the left (SPEC 2.1).
void direction_pads(xsep_pad d, int* top, int* left) {
  *top = (d == XSEP_PAD_TOP_LEFT || d == XSEP_PAD_TOP_RIGHT) ? 1 : 0;
  *left = (d == XSEP_PAD_TOP_LEFT || d == XSEP_PAD_BOTTOM_LEFT) ? 1 : 0;
}

xsep_status run_dw(const char* fn, Op op, const xsep_tensor_desc* x_desc, const void* x,
                   const float* w, int32_t k, int32_t stride, const xsep_pad& pad,
                   const xsep_epilogue* ep, void* y, cudaStream_t stream) {
  Problem p;
  if (xsep_status s = validate_dwconv(fn, op, x_desc, x, w, k, stride, pad, ep, y, &p)) return s;
  if (xsep_status s = check_device(fn)) return s;
  kernels::DwArgs a{};
  a.x = x;
  a.y = y;
  a.weights = w;
  a.ep = epilogue_or_identity(ep);
  a.n = static_cast<int>(p.n);
  a.c = static_cast<int>(p.c);
  a.h = static_cast<int>(p.h);
  a.w = static_cast<int>(p.w);
  a.ho = static_cast<int>(p.ho);
  a.wo = static_cast<int>(p.wo);
  a.f16 = p.dtype == XSEP_DTYPE_F16;
  a.nhwc = p.layout == XSEP_LAYOUT_NHWC;
  switch (op) {
    case Op::k2x2:
      a.kh = a.kw = 2;
      a.sh = a.sw = 1;
      a.symmetric = p.pad == XSEP_PAD_SYMMETRIC;
      if (!a.symmetric) direction_pads(p.pad, &a.pad_top, &a.pad_left);
      break;
    case Op::k1xK:
      a.kh = 1, a.kw = p.k, a.sh = 1, a.sw = p.stride, a.pad_top = 0, a.pad_left = p.k / 2;
      break;
    case Op::kKx1:
      a.kh = p.k, a.kw = 1, a.sh = p.stride, a.sw = 1, a.pad_top = p.k / 2, a.pad_left = 0;
      break;
    default:  // KxK
      a.kh = a.kw = p.k;
      a.sh = a.sw = p.stride;
      a.pad_top = a.pad_left = p.k / 2;
      break;
  }
  return launched(fn, kernels::run_dwconv(a, stream));
}

}  // namespace
}  // namespace xsep::detail

using xsep::detail::Op;

extern "C" {

xsep_status xsep_dwconv2x2(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                           xsep_pad pad, const xsep_epilogue* ep, void* y, cudaStream_t stream) {
  return xsep::detail::run_dw("xsep_dwconv2x2", Op::k2x2, x_desc, x, w, 2, 1, pad, ep, y, stream);
}

xsep_status xsep_dwconv1xk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                           int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                           cudaStream_t stream) {
  return xsep::detail::run_dw("xsep_dwconv1xk", Op::k1xK, x_desc, x, w, k, stride,
                              XSEP_PAD_TOP_LEFT, ep, y, stream);
}

xsep_status xsep_dwconvkx1(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                           int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                           cudaStream_t stream) {
  return xsep::detail::run_dw("xsep_dwconvkx1", Op::kKx1, x_desc, x, w, k, stride,
                              XSEP_PAD_TOP_LEFT, ep, y, stream);
}

xsep_status xsep_dwconvkxk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                           int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                           cudaStream_t stream) {
  return xsep::detail::run_dw("xsep_dwconvkxk", Op::kKxK, x_desc, x, w, k, stride,
                              XSEP_PAD_TOP_LEFT, ep, y, stream);
}

xsep_status xsep_xsepconv(const xsep_tensor_desc* x_desc, const void* x,
                          const xsep_xsepconv_params* prm, void* y, cudaStream_t stream) {
  const char* fn = "xsep_xsepconv";
  xsep::detail::Problem p;
  if (xsep_status s = xsep::detail::validate_xsepconv(fn, x_desc, x, prm, y, &p)) return s;
  if (xsep_status s = xsep::detail::check_device(fn)) return s;
  xsep::kernels::XsArgs a{};
  a.x = x;
  a.y = y;
  a.w2x2 = prm->w2x2;
  a.w1xk = prm->w1xk;
  a.wkx1 = prm->wkx1;
  a.ep2x2 = prm->ep2x2;
  a.ep1xk = prm->ep1xk;
  a.epkx1 = prm->epkx1;
  a.n = static_cast<int>(p.n);
  a.c = static_cast<int>(p.c);
  a.h = static_cast<int>(p.h);
  a.w = static_cast<int>(p.w);
  a.ho = static_cast<int>(p.ho);
  a.wo = static_cast<int>(p.wo);
  a.k = p.k;
  a.stride = p.stride;
  a.symmetric = p.pad == XSEP_PAD_SYMMETRIC;
  if (!a.symmetric) xsep::detail::direction_pads(p.pad, &a.pad_top, &a.pad_left);
  a.f16 = p.dtype == XSEP_DTYPE_F16;
  a.nhwc = p.layout == XSEP_LAYOUT_NHWC;
  return xsep::detail::launched(fn, xsep::kernels::run_xsepconv(a, stream));
}

}  // extern "C"
