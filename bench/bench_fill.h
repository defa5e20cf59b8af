// Device-side helpers of xsep_bench: fill buffers with reproducible random
// values (never zeros: METHOD.md) and count non-finite outputs, so that every
// timed operator is also seen to have written finite numbers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace xsep_bench {

// p[i] = uniform in [lo, hi) from a hash of (seed, i); float16 when f16.
cudaError_t fill_uniform(void* p, size_t count, bool f16, float lo, float hi, uint64_t seed,
                         cudaStream_t stream);

// *d_count (device, zeroed first) += number of NaN/Inf among count elements.
cudaError_t count_nonfinite(const void* p, size_t count, bool f16, unsigned long long* d_count,
                            cudaStream_t stream);

}  // namespace xsep_bench
