// What both fused XSepConv kernels (xsepconv.cuh, tiled; xsepconv_stream.cuh,
// row-streaming) share: their parameters from the launcher's XsArgs, and the
// 2x2 pass over shared-memory rows of x.
#pragma once

#include "launch.h"
#include "stage.cuh"
#include "tiling.h"

namespace xsep::kernels {

// Fills the fields every fused kernel's parameter struct shares: input view,
// output, weights, the three epilogues, shapes, K, stride and the 2x2 direction.
template <typename Params>
void fill_xsepconv_params(Params& p, const XsArgs& a, int vec) {
  p.in = InputView{a.x, a.c, a.h, a.w, a.nhwc, vec};
  p.y = a.y;
  p.w2x2 = a.w2x2;
  p.w1xk = a.w1xk;
  p.wkx1 = a.wkx1;
  p.e1 = Epilogue{a.ep2x2.scale, a.ep2x2.bias, static_cast<int>(a.ep2x2.act)};
  p.e2 = Epilogue{a.ep1xk.scale, a.ep1xk.bias, static_cast<int>(a.ep1xk.act)};
  p.e3 = Epilogue{a.epkx1.scale, a.epkx1.bias, static_cast<int>(a.epkx1.act)};
  p.n = a.n;
  p.c = a.c;
  p.ho = a.ho;
  p.wo = a.wo;
  p.k = a.k;
  p.s = a.stride;
  p.pad_top = a.pad_top;
  p.pad_left = a.pad_left;
  p.symmetric = a.symmetric ? 1 : 0;
}

// kOpt consecutive t1 values of one channel (the 2x2 pass, SPEC 2.1, + E1):
//   t1(o) = E1(w[0][0] x0[o] + w[0][1] x0[o+1] + w[1][0] x1[o] + w[1][1] x1[o+1]),
// where x0 / x1 point at the filter's top / bottom x row, already shifted by
// the channel's direction, with consecutive columns `tc` floats apart; w2 holds
// the 4 weights `tc` apart. t1 is zero outside the image (the intermediate's
// own zero padding): when !row_in, !channel_in, or column gc0 + o is outside
// [0, W). Written to dst[o * tc].
__device__ __forceinline__ void t1_segment(const float* x0, const float* x1, int tc, const float* w2,
                                           const ChannelEpilogue& e1, bool row_in, bool channel_in, int gc0,
                                           int W, float* dst) {
  float a0[kOpt + 1], a1[kOpt + 1];
#pragma unroll
  for (int e = 0; e <= kOpt; ++e) {
    a0[e] = x0[e * tc];
    a1[e] = x1[e * tc];
  }
  const float w00 = w2[0], w01 = w2[tc], w10 = w2[2 * tc], w11 = w2[3 * tc];
#pragma unroll
  for (int o = 0; o < kOpt; ++o) {
    float v = w00 * a0[o];
    v = fmaf(w01, a0[o + 1], v);
    v = fmaf(w10, a1[o], v);
    v = fmaf(w11, a1[o + 1], v);
    const int gc = gc0 + o;
    const bool in = row_in && channel_in && gc >= 0 && gc < W;
    dst[o * tc] = in ? apply_epilogue(e1, v) : 0.f;
  }
}

}  // namespace xsep::kernels
