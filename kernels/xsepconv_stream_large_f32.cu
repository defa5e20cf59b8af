// Explicit instantiations of the row-streaming XSepConv launcher for f32 I/O
// and K = 11 .. 31: taps in registers (xsepconv_stream_f32.cu has K = 3 .. 9 and
// the run-time-K kernel). The default sends NHWC with K >= 11 here (dispatch.cpp).
#include "xsepconv_stream.cuh"

namespace xsep::kernels {

template int launch_xsepconv_stream<false, 11>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 13>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 15>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 17>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 19>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 21>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 23>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 25>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 27>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 29>(const XsArgs&, cudaStream_t);
template int launch_xsepconv_stream<false, 31>(const XsArgs&, cudaStream_t);

}  // namespace xsep::kernels
