// Explicit instantiations of the row-streaming XSepConv launcher for f16 I/O
// (K = 0 is the run-time-K kernel).
#include "xsepconv_stream.cuh"

namespace xsep::kernels {

template int launch_xsepconv_stream<true, 3>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 5>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 7>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 9>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 0>(const XsArgs&, cudaStream_t);

}  // namespace xsep::kernels
