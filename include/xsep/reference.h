/* xsep naive CPU reference: one obviously-correct loop nest per operator,
 * straight from SPEC section 2, accumulating in double and rounding once to the
 * output type. Host pointers, synchronous; `stream` is ignored. This is the
 * oracle the kernels are tested against: it shares no code with them beyond
 * argument validation. Same bad-input contract as the device functions. */
#ifndef XSEP_REFERENCE_H_
#define XSEP_REFERENCE_H_

#include "xsep/xsep.h"

#ifdef __cplusplus
extern "C" {
#endif

XSEP_API xsep_status xsep_ref_dwconv2x2(const xsep_tensor_desc* x_desc, const void* x,
                                        const float* w, xsep_pad pad, const xsep_epilogue* ep,
                                        void* y, cudaStream_t stream);
XSEP_API xsep_status xsep_ref_dwconv1xk(const xsep_tensor_desc* x_desc, const void* x,
                                        const float* w, int32_t k, int32_t stride,
                                        const xsep_epilogue* ep, void* y, cudaStream_t stream);
XSEP_API xsep_status xsep_ref_dwconvkx1(const xsep_tensor_desc* x_desc, const void* x,
                                        const float* w, int32_t k, int32_t stride,
                                        const xsep_epilogue* ep, void* y, cudaStream_t stream);
XSEP_API xsep_status xsep_ref_dwconvkxk(const xsep_tensor_desc* x_desc, const void* x,
                                        const float* w, int32_t k, int32_t stride,
                                        const xsep_epilogue* ep, void* y, cudaStream_t stream);
XSEP_API xsep_status xsep_ref_xsepconv(const xsep_tensor_desc* x_desc, const void* x,
                                       const xsep_xsepconv_params* p, void* y,
                                       cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* XSEP_REFERENCE_H_ */
