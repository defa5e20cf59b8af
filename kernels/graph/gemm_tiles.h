// Test hooks of gemm.cu: the same GEMM with a forced kernel and block tile, so
// that small (emulator-sized) problems exercise every kernel variant, and the
// kernel gemm() would pick. Plain C++.
#pragma once

#include "graph_kernels.h"

namespace xsep::kernels::graph {

// gemm(args) on the CUDA-core kernel (whatever the dtypes) with blocks of
// 16*tm x 16*tn outputs, tm, tn in {1, 2, 4} (after the host's transposition
// to an n-contiguous output, see gemm.cu); 0 picks the size as that kernel does.
int gemm_with_tile(const GemmArgs& args, int tm, int tn, cudaStream_t stream);

// gemm(args) on the tensor-core kernel with blocks 16*bn16 outputs wide
// (bn16 in {1, 2, 4}, 0: as gemm() picks). cudaErrorInvalidValue for any other
// bn16 and, on a problem with outputs, where that kernel does not apply (y
// float32, or neither A nor B float16); an empty problem (batch, m or n zero)
// returns 0 without a launch, as gemm() does.
int gemm_tensor_core(const GemmArgs& args, int bn16, cudaStream_t stream);

// The kernel gemm(args) launches (kAuto when it launches none), after the
// XSEP_GEMM_KERNEL override.
enum class GemmKernelChoice { kAuto, kCudaCore, kTensorCore };
GemmKernelChoice gemm_kernel_choice(const GemmArgs& args);

}  // namespace xsep::kernels::graph
