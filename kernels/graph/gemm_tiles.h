// Test hook of gemm.cu: the same GEMM with a forced block tile, so that small
// (emulator-sized) problems exercise every kernel variant. Plain C++.
#pragma once

#include "graph_kernels.h"

namespace xsep::kernels::graph {

// gemm(args) computed with blocks of 16*tm x 16*tn outputs, tm, tn in {1, 2, 4}
// (after the host's transposition to an n-contiguous output, see gemm.cu);
// 0 picks the size as gemm() does.
int gemm_with_tile(const GemmArgs& args, int tm, int tn, cudaStream_t stream);

}  // namespace xsep::kernels::graph
