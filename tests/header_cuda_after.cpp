// xsep.h included BEFORE the CUDA runtime header: both declare cudaStream_t,
// which must be the same type (HeaderCompat test in test_api.cpp).
#include "xsep/xsep.h"

#include <cuda_runtime.h>

// A runtime cudaStream_t passed to the API; NULL descriptor, so nothing runs.
int xsep_header_cuda_after_check(void) {
  cudaStream_t stream = nullptr;
  const xsep_status s = xsep_dwconv2x2(nullptr, nullptr, nullptr, XSEP_PAD_TOP_LEFT, nullptr,
                                       nullptr, stream);
  return s == XSEP_STATUS_INVALID_ARGUMENT ? static_cast<int>(sizeof(stream)) : -1;
}
