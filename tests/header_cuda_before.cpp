// xsep.h included AFTER the CUDA runtime header: both declare cudaStream_t,
// which must be the same type (HeaderCompat test in test_api.cpp).
#include <cuda_runtime.h>

#include "xsep/xsep.h"

// A runtime cudaStream_t passed to the API; NULL descriptor, so nothing runs.
int xsep_header_cuda_before_check(void) {
  cudaStream_t stream = nullptr;
  const xsep_status s = xsep_xsepconv(nullptr, nullptr, nullptr, nullptr, stream);
  return s == XSEP_STATUS_INVALID_ARGUMENT ? static_cast<int>(sizeof(stream)) : -1;
}
