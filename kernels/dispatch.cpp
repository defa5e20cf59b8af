// Maps a validated call to the compiled kernel for its dtype and filter size:
// K = 3, 5, 7, 9 have kernels specialised at compile time, every other odd K
// up to 31 runs the run-time-K kernel.
#include <cstdlib>
#include <cstring>

#include "launch.h"

namespace xsep::kernels {
namespace {

template <bool kF16>
int dwconv_for_dtype(const DwArgs& a, cudaStream_t s) {
  // The filter is kh x kw; exactly one of them is "K" except for 2x2 and KxK.
  if (a.kh == 2 && a.kw == 2) return launch_dwconv<kF16, 2, 2>(a, s);
  if (a.kh == 1) {  // 1xK
    switch (a.kw) {
      case 3: return launch_dwconv<kF16, 1, 3>(a, s);
      case 5: return launch_dwconv<kF16, 1, 5>(a, s);
      case 7: return launch_dwconv<kF16, 1, 7>(a, s);
      case 9: return launch_dwconv<kF16, 1, 9>(a, s);
      default: return launch_dwconv<kF16, 1, 0>(a, s);
    }
  }
  if (a.kw == 1) {  // Kx1
    switch (a.kh) {
      case 3: return launch_dwconv<kF16, 3, 1>(a, s);
      case 5: return launch_dwconv<kF16, 5, 1>(a, s);
      case 7: return launch_dwconv<kF16, 7, 1>(a, s);
      case 9: return launch_dwconv<kF16, 9, 1>(a, s);
      default: return launch_dwconv<kF16, 0, 1>(a, s);
    }
  }
  switch (a.kh) {  // KxK
    case 3: return launch_dwconv<kF16, 3, 3>(a, s);
    case 5: return launch_dwconv<kF16, 5, 5>(a, s);
    case 7: return launch_dwconv<kF16, 7, 7>(a, s);
    case 9: return launch_dwconv<kF16, 9, 9>(a, s);
    default: return launch_dwconv<kF16, 0, 0>(a, s);
  }
}

template <bool kF16>
int xsepconv_stream_for_dtype(const XsArgs& a, cudaStream_t s) {
  switch (a.k) {
    case 3: return launch_xsepconv_stream<kF16, 3>(a, s);
    case 5: return launch_xsepconv_stream<kF16, 5>(a, s);
    case 7: return launch_xsepconv_stream<kF16, 7>(a, s);
    case 9: return launch_xsepconv_stream<kF16, 9>(a, s);
    default: return launch_xsepconv_stream<kF16, 0>(a, s);
  }
}

// Developer knob for benchmarking kernel variants: XSEP_XSEPCONV_KERNEL=stream
// selects the row-streaming fused kernel; unset, `tiled` or anything else the
// tiled one. Read once per process.
bool use_stream_xsepconv() {
  static const bool stream = [] {
    const char* v = std::getenv("XSEP_XSEPCONV_KERNEL");
    return v != nullptr && std::strcmp(v, "stream") == 0;
  }();
  return stream;
}

template <bool kF16>
int xsepconv_for_dtype(const XsArgs& a, cudaStream_t s) {
  if (use_stream_xsepconv()) return xsepconv_stream_for_dtype<kF16>(a, s);
  switch (a.k) {
    case 3: return launch_xsepconv<kF16, 3>(a, s);
    case 5: return launch_xsepconv<kF16, 5>(a, s);
    case 7: return launch_xsepconv<kF16, 7>(a, s);
    case 9: return launch_xsepconv<kF16, 9>(a, s);
    default: return launch_xsepconv<kF16, 0>(a, s);
  }
}

}  // namespace

int run_dwconv(const DwArgs& a, cudaStream_t s) {
  return a.f16 ? dwconv_for_dtype<true>(a, s) : dwconv_for_dtype<false>(a, s);
}

int run_xsepconv(const XsArgs& a, cudaStream_t s) {
  return a.f16 ? xsepconv_for_dtype<true>(a, s) : xsepconv_for_dtype<false>(a, s);
}

}  // namespace xsep::kernels
