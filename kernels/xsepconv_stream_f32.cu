// Explicit instantiations of the row-streaming XSepConv launcher for f32 I/O
// (K = 0 is the run-time-K kernel).
#include "xsepconv_stream.cuh"

namespace xsep::kernels {

template int launch_xsepconv_stream<false, 3>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 5>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 7>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 9>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 0>(const XsArgs&, cudaStream_t);

}  // namespace xsep::kernels
