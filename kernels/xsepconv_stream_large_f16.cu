// Explicit instantiations of the row-streaming XSepConv launcher for f16 I/O
// and K = 11 .. 31: taps in registers (xsepconv_stream_f16.cu has K = 3 .. 9 and
// the run-time-K kernel). The default sends NHWC with K >= 11 here (dispatch.cpp).
#include "xsepconv_stream.cuh"

namespace xsep::kernels {

template int launch_xsepconv_stream<true, 11>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 13>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 15>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 17>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 19>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 21>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 23>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 25>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 27>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 29>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<true, 31>(const XsArgs&, cudaStream_t);

}  // namespace xsep::kernels
