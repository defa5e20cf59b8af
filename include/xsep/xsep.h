/* xsep: fused depthwise and XSepConv kernels (public C API).
 *
 * Plain C11 / C++17, no CUDA header needed. In the CUDA build every tensor,
 * weight, scale and bias pointer is a device pointer and calls are
 * asynchronous on `stream`; in the emulated build (XSEP_DEVICE=emu) the same
 * functions take host pointers and run synchronously on host threads. The
 * README (and the SPEC it follows) gives the exact semantics of every operator.
 *
 * Lifetimes: the structs passed by pointer (descriptor, epilogue, params) are
 * read during the call and may be freed when it returns; the device arrays
 * must stay valid until the work queued on `stream` has finished (or, when
 * the call is captured, as long as the CUDA graph is launched).
 *
 * Streams: `stream` 0 is the legacy default stream, whatever the caller's
 * --default-stream setting (the library is built without per-thread default
 * streams); pass cudaStreamPerThread for the per-thread one.
 *
 * Thread-safe: any number of host threads may call at once, each on the device
 * current in that thread; `stream` must belong to it (CUDA fails a launch
 * into another device's stream: XSEP_STATUS_DEVICE_ERROR). A call allocates,
 * copies and synchronises nothing, so it may be captured into a CUDA graph. */
#ifndef XSEP_XSEP_H_
#define XSEP_XSEP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XSEP_VERSION_MAJOR 0
#define XSEP_VERSION_MINOR 1
#define XSEP_VERSION_PATCH 0

#if defined(_WIN32)
#define XSEP_API
#else
#define XSEP_API __attribute__((visibility("default")))
#endif

/* The CUDA runtime's stream type, declared here the same way cuda_runtime.h
 * does so that this header works before, after or without it. */
typedef struct CUstream_st* cudaStream_t;

/* The header's version in xsep_version()'s form. */
#define XSEP_VERSION (XSEP_VERSION_MAJOR * 10000 + XSEP_VERSION_MINOR * 100 + XSEP_VERSION_PATCH)

/* Version of the library actually loaded: MAJOR*10000 + MINOR*100 + PATCH.
 * Compare with XSEP_VERSION to catch a header/library mismatch. */
XSEP_API int xsep_version(void);

/* The supported sizes; beyond them a call returns XSEP_STATUS_UNSUPPORTED. Kernels
 * index with 32-bit integers: every tensor and weight array holds at most
 * XSEP_MAX_ELEMENTS elements, and C, H and W are each at most XSEP_MAX_SIDE (tile
 * arithmetic, such as rounding a side up to a multiple of the tile, cannot overflow). */
#define XSEP_MAX_K 31
#define XSEP_MAX_ELEMENTS INT64_C(2147483647) /* 2^31 - 1; usable in #if too */
#define XSEP_MAX_SIDE (INT64_C(1) << 30)

/* Every call returns one of these. Numbered and append-only. */
typedef enum xsep_status {
  XSEP_STATUS_SUCCESS = 0,
  XSEP_STATUS_INVALID_ARGUMENT = 1, /* malformed call: a NULL pointer, a dim < 1 (an empty
                                       tensor too: skip the call), a shape whose element or
                                       byte count overflows int64, even K, stride < 1, a bad
                                       enum, a pointer not aligned to its element size, y
                                       overlapping an input (x, weights, scale, bias) */
  XSEP_STATUS_UNSUPPORTED = 2,      /* well-defined but not provided (K > XSEP_MAX_K, stride > 2,
                                       more than XSEP_MAX_ELEMENTS elements in x or a weight array,
                                       C, H or W above XSEP_MAX_SIDE, no tile that fits the
                                       device's shared memory) */
  XSEP_STATUS_OUT_OF_MEMORY = 3,    /* host memory (the reference's float64 copies) ran out, or
                                       a launch failed with cudaErrorMemoryAllocation; y untouched */
  XSEP_STATUS_DEVICE_ERROR = 4,     /* the launch failed or the device is in an error state; the
                                       message names the CUDA error. Errors while a kernel runs
                                       surface, as with any CUDA call, at the caller's next
                                       synchronisation, not here; after a sticky one (e.g.
                                       cudaErrorIllegalAddress) the context is unusable */
  XSEP_STATUS_NO_DEVICE = 5         /* no usable GPU (CUDA build only) */
} xsep_status;

/* Static, never NULL: "XSEP_STATUS_SUCCESS", ... ; "unknown status" otherwise. */
XSEP_API const char* xsep_status_string(xsep_status status);

/* This thread's message for its last failed call (which argument, which value,
 * what is allowed); "" if no call on this thread has failed. Valid until the
 * next xsep call on the same thread. */
XSEP_API const char* xsep_last_error(void);

/* The activations' type (x and y). F16 is IEEE binary16 (CUDA's __half), not
 * bfloat16; weights, scale and bias are float32 for both, accumulation is
 * float32, and F16 outputs are rounded to nearest even. */
typedef enum xsep_dtype { XSEP_DTYPE_F32 = 0, XSEP_DTYPE_F16 = 1 } xsep_dtype;
typedef enum xsep_layout { XSEP_LAYOUT_NCHW = 0, XSEP_LAYOUT_NHWC = 1 } xsep_layout;

/* Direction of the one row and one column of zeros a 2x2 depthwise conv adds
 * (SPEC 2.1). SYMMETRIC splits the channels into 4 groups (numpy.array_split)
 * that use BOTTOM_RIGHT, TOP_LEFT, BOTTOM_LEFT, TOP_RIGHT in that order. */
typedef enum xsep_pad {
  XSEP_PAD_TOP_LEFT = 0,
  XSEP_PAD_TOP_RIGHT = 1,
  XSEP_PAD_BOTTOM_LEFT = 2,
  XSEP_PAD_BOTTOM_RIGHT = 3,
  XSEP_PAD_SYMMETRIC = 4
} xsep_pad;

typedef enum xsep_activation {
  XSEP_ACT_NONE = 0,
  XSEP_ACT_RELU = 1,     /* max(0, v) */
  XSEP_ACT_RELU6 = 2,    /* min(max(0, v), 6) */
  XSEP_ACT_HARDSWISH = 3 /* v * min(max(v + 3, 0), 6) / 6 */
} xsep_activation;

/* A 4-D activation tensor: logical dims n, c, h, w; `layout` says how they are
 * laid out in memory (densely packed, no padding between rows). */
typedef struct xsep_tensor_desc {
  int64_t n, c, h, w;
  xsep_dtype dtype;
  xsep_layout layout;
} xsep_tensor_desc;

/* y = act(acc * scale[c] + bias[c]); scale / bias are [C] float32 (device
 * memory) or NULL (1 and 0). An inference BatchNorm folds into scale and bias.
 * The single operators also take ep == NULL: no scale, no bias, no activation. */
typedef struct xsep_epilogue {
  const float* scale;
  const float* bias;
  xsep_activation act;
} xsep_epilogue;

/* One XSepConv block (SPEC 2.5): y = E3(Kx1_s(E2(1xK_s(E1(dw2x2_pad(x)))))). */
typedef struct xsep_xsepconv_params {
  int32_t k;      /* odd, 1..31 */
  int32_t stride; /* 1 or 2; strides the 1xK pass along W and the Kx1 pass along H */
  xsep_pad pad;   /* direction of the 2x2 pass */
  const float* w2x2; /* [C][2][2] */
  const float* w1xk; /* [C][K] */
  const float* wkx1; /* [C][K] */
  xsep_epilogue ep2x2, ep1xk, epkx1;
} xsep_xsepconv_params;

/* The improved symmetric padding strategy (SPEC 3): writes n_layers directions,
 * the one for the l-th 2x2 layer of a network in execution order.
 * n_layers >= 1 and directions != NULL, else XSEP_STATUS_INVALID_ARGUMENT. */
XSEP_API xsep_status xsep_padding_schedule(int32_t n_layers, xsep_pad* directions);

/* ---- Device operators -------------------------------------------------------
 * Bad input contract (all functions): everything is validated before y is
 * touched; a failed call writes nothing to y and sets xsep_last_error().
 * Pointers need only element alignment; 16-byte aligned NHWC tensors with C a
 * multiple of the vector width take a vectorised path. Output: y has x's n, c,
 * dtype and layout, and H_out = (H - 1) / s + 1, W_out = (W - 1) / s + 1
 * (integer division, i.e. ceil(H / s)) on each axis strided by s. */

/* 2x2 depthwise, stride 1, output H x W. w: [C][2][2]. */
XSEP_API xsep_status xsep_dwconv2x2(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                                    xsep_pad pad, const xsep_epilogue* ep, void* y,
                                    cudaStream_t stream);
/* 1xK depthwise along W, pad K/2, stride along W. w: [C][K]. */
XSEP_API xsep_status xsep_dwconv1xk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                                    int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                                    cudaStream_t stream);
/* Kx1 depthwise along H, pad K/2, stride along H. w: [C][K]. */
XSEP_API xsep_status xsep_dwconvkx1(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                                    int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                                    cudaStream_t stream);
/* KxK depthwise, pad K/2, stride on both axes. w: [C][K][K]. */
XSEP_API xsep_status xsep_dwconvkxk(const xsep_tensor_desc* x_desc, const void* x, const float* w,
                                    int32_t k, int32_t stride, const xsep_epilogue* ep, void* y,
                                    cudaStream_t stream);
/* The fused XSepConv block: one kernel, one write of y; the two intermediate
 * tensors stay on chip (blocks re-read the halos of their tiles of x). */
XSEP_API xsep_status xsep_xsepconv(const xsep_tensor_desc* x_desc, const void* x,
                                   const xsep_xsepconv_params* p, void* y, cudaStream_t stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XSEP_XSEP_H_ */
