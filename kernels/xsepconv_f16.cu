// Explicit instantiations of the fused XSepConv launcher for f16 I/O
// (K = 0 is the run-time-K kernel). The K set is dispatch.cpp's switch, and
// bench/tile_counts.py's COMPILED_TILED.
#include "xsepconv.cuh"

namespace xsep::kernels {

template int launch_xsepconv<true, 3>(const XsArgs&, cudaStream_t);
template int launch_xsepconv<true, 5>(const XsArgs&, cudaStream_t);
template int launch_xsepconv<true, 7>(const XsArgs&, cudaStream_t);
template int launch_xsepconv<true, 9>(const XsArgs&, cudaStream_t);
template int launch_xsepconv<true, 0>(const XsArgs&, cudaStream_t);

}  // namespace xsep::kernels
