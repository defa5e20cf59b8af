// Maps a validated call to the compiled kernel for its dtype and filter size:
// K = 3, 5, 7, 9 have kernels specialised at compile time, every other odd K
// up to 31 runs the run-time-K kernel (except the row-streaming fused kernel,
// specialised for every odd K up to 31). The fused block also picks one of its
// two kernels (tiled or row-streaming) by layout and K: use_stream_xsepconv().
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

// The row-streaming kernel has a compile-time K for every odd K from 3 to 31
// (taps in registers; it is the default for NHWC K >= 11); only K = 1 takes
// its run-time-K kernel.
template <bool kF16>
int xsepconv_stream_for_dtype(const XsArgs& a, cudaStream_t s) {
  switch (a.k) {
    case 3: return launch_xsepconv_stream<kF16, 3>(a, s);
    case 5: return launch_xsepconv_stream<kF16, 5>(a, s);
    case 7: return launch_xsepconv_stream<kF16, 7>(a, s);
    case 9: return launch_xsepconv_stream<kF16, 9>(a, s);
    case 11: return launch_xsepconv_stream<kF16, 11>(a, s);
    case 13: return launch_xsepconv_stream<kF16, 13>(a, s);
    case 15: return launch_xsepconv_stream<kF16, 15>(a, s);
    case 17: return launch_xsepconv_stream<kF16, 17>(a, s);
    case 19: return launch_xsepconv_stream<kF16, 19>(a, s);
    case 21: return launch_xsepconv_stream<kF16, 21>(a, s);
    case 23: return launch_xsepconv_stream<kF16, 23>(a, s);
    case 25: return launch_xsepconv_stream<kF16, 25>(a, s);
    case 27: return launch_xsepconv_stream<kF16, 27>(a, s);
    case 29: return launch_xsepconv_stream<kF16, 29>(a, s);
    case 31: return launch_xsepconv_stream<kF16, 31>(a, s);
    default: return launch_xsepconv_stream<kF16, 0>(a, s);
  }
}

// Which fused kernel runs. By default (unset or `auto`): the row-streaming one
// for NHWC with K >= 11, the tiled one otherwise. This rule is mirrored in
// bench/tile_counts.py (default_kernel) and in the kernels_tiled test's filter
// (tests/CMakeLists.txt); the compiled K sets of the switches here in the
// *_f32.cu / *_f16.cu instantiation lists and tile_counts.py's COMPILED_TILED. Why K >= 11 in NHWC: there the
// tiled kernel's 96 KB budget shrinks its tile to 4x4 outputs (K = 13, 31) and
// its vertical and horizontal halo re-stage each x element ~20x (K = 13) to
// ~90x (K = 31) and re-run the 2x2 and 1xK passes as often, where the stream
// kernel (horizontal halo only) stages ~2.4x / ~5x; counts for N64_C96_56x56 in
// bench/NOTES.md. In NCHW the tiled kernel's 32x32 planes keep the halos small
// and the two are within ~1.5x of each other, so it stays. K <= 9 stays tiled
// until a GPU compares the two (issue 5's xsepstream rows).
// Developer knob: XSEP_XSEPCONV_KERNEL=tiled or =stream forces one kernel for
// every call (benchmarks of the variants); any other value means `auto`. Read
// once per process.
enum class FusedChoice { kAuto, kTiled, kStream };
FusedChoice fused_choice() {
  static const FusedChoice choice = [] {
    const char* v = std::getenv("XSEP_XSEPCONV_KERNEL");
    if (v != nullptr && std::strcmp(v, "stream") == 0) return FusedChoice::kStream;
    if (v != nullptr && std::strcmp(v, "tiled") == 0) return FusedChoice::kTiled;
    return FusedChoice::kAuto;
  }();
  return choice;
}
bool use_stream_xsepconv(const XsArgs& a) {
  switch (fused_choice()) {
    case FusedChoice::kStream: return true;
    case FusedChoice::kTiled: return false;
    default: return a.nhwc && a.k >= 11;
  }
}

template <bool kF16>
int xsepconv_for_dtype(const XsArgs& a, cudaStream_t s) {
  if (use_stream_xsepconv(a)) return xsepconv_stream_for_dtype<kF16>(a, s);
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
