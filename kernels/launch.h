// The kernels' host-side entry points: plain C++ (no CUDA header), called by
// the C API after it has validated the arguments (src/api/device_api.cpp).
// Each returns 0 on success, else the CUDA runtime's error code of the launch, or
// kErrorNoTileFits.
#pragma once

#include "xsep/xsep.h"

namespace xsep::kernels {

// One depthwise pass with a KH x KW filter: the 2x2, 1xK, Kx1 and KxK operators.
//   y(n,c,oh,ow) = E( sum_{i<kh, j<kw} w[c][i][j] * x(n,c, sh*oh - pad_top + i, sw*ow - pad_left + j) )
// with x = 0 outside the image. SYMMETRIC (2x2 only) picks pad_top / pad_left
// per channel (0 or 1 each, SPEC 2.1).
struct DwArgs {
  const void* x;
  void* y;
  const float* weights;  // [C][kh][kw]
  xsep_epilogue ep;
  int n, c, h, w, ho, wo;
  int kh, kw, sh, sw;
  int pad_top, pad_left;
  bool symmetric;
  bool f16;
  bool nhwc;
};

// The fused XSepConv block (SPEC 2.5).
struct XsArgs {
  const void* x;
  void* y;
  const float* w2x2;  // [C][2][2]
  const float* w1xk;  // [C][k]
  const float* wkx1;  // [C][k]
  xsep_epilogue ep2x2, ep1xk, epkx1;
  int n, c, h, w, ho, wo;
  int k, stride;
  int pad_top, pad_left;  // the 2x2 direction, unless symmetric
  bool symmetric;
  bool f16;
  bool nhwc;
};

// A launcher's return value when even its smallest tile of the problem needs more
// shared memory than the device gives a block (no CUDA error code is negative):
// the C API reports XSEP_STATUS_UNSUPPORTED, and nothing was launched.
constexpr int kErrorNoTileFits = -1;

int run_dwconv(const DwArgs& args, cudaStream_t stream);
int run_xsepconv(const XsArgs& args, cudaStream_t stream);

// XSEP_LOG_LAUNCHES=1 (environment, read once per process): every launcher
// prints one line to stderr before it launches, "xsep launch: <kernel>" and
// key=value pairs: the problem, the compiled K (0 = run-time K), the tile it
// chose, blocks and shared-memory bytes. For relating benchmark rows and
// profiles to tiles, and the test of bench/tile_counts.py. Off by default.
bool launch_log_enabled();
void log_launch(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Per-(dtype, filter shape) launchers, explicitly instantiated in the
// dwconv_*.cu / xsepconv_*.cu files. KH or KW == 0: the run-time-K kernel.
template <bool kF16, int KH, int KW>
int launch_dwconv(const DwArgs& args, cudaStream_t stream);
template <bool kF16, int K>
int launch_xsepconv(const XsArgs& args, cudaStream_t stream);
// The row-streaming variant of the fused block (xsepconv_stream*.cu), chosen
// by run_xsepconv for NHWC with K >= 11 or when XSEP_XSEPCONV_KERNEL=stream.
template <bool kF16, int K>
int launch_xsepconv_stream(const XsArgs& args, cudaStream_t stream);

}  // namespace xsep::kernels
