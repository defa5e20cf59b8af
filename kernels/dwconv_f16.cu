// Explicit instantiations of the depthwise-pass launcher for f16 I/O: the
// deliberate set of compiled filter shapes (K = 0 is the run-time-K kernel).
#include "dwconv.cuh"

namespace xsep::kernels {

#define XSEP_DW(KH, KW) template int launch_dwconv<true, KH, KW>(const DwArgs&, cudaStream_t);
XSEP_DW(2, 2)                                                   // 2x2, every direction
XSEP_DW(1, 3) XSEP_DW(1, 5) XSEP_DW(1, 7) XSEP_DW(1, 9) XSEP_DW(1, 0)  // 1xK
XSEP_DW(3, 1) XSEP_DW(5, 1) XSEP_DW(7, 1) XSEP_DW(9, 1) XSEP_DW(0, 1)  // Kx1
XSEP_DW(3, 3) XSEP_DW(5, 5) XSEP_DW(7, 7) XSEP_DW(9, 9) XSEP_DW(0, 0)  // KxK
#undef XSEP_DW

}  // namespace xsep::kernels
