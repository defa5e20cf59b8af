// The kernel parameters both fused XSepConv kernels (xsepconv.cuh, tiled;
// xsepconv_stream.cuh, row-streaming) take from the launcher's XsArgs.
#pragma once

#include "launch.h"
#include "stage.cuh"

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

}  // namespace xsep::kernels
