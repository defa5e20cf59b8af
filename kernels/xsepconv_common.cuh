// What both fused XSepConv kernels (xsepconv.cuh, tiled; xsepconv_stream.cuh,
// row-streaming) share: their parameters from the launcher's XsArgs, and the
// 2x2 pass over shared-memory rows of x.
#pragma once

#include "conv_window.cuh"
#include "epilogue.cuh"
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
// the channel's direction, with consecutive columns `tc` floats apart; w2x2 holds
// the 4 weights (w00, w01, w10, w11) in registers. The caller calls it for rows
// inside the image and channels below C only (it skips the other rows: their t2
// rows are zero, and their t1 rows stay unwritten); within a row, column
// gc0 + o outside [0, W) gets 0, the intermediate's own zero padding.
// Written to dst[o * tc].
__device__ __forceinline__ void t1_segment_regs(const float* x0, const float* x1, int tc, const float (&w2x2)[4],
                                                const ChannelEpilogue& e1, int gc0, int W, float* dst) {
  float a0[kOpt + 1], a1[kOpt + 1];
#pragma unroll
  for (int e = 0; e <= kOpt; ++e) {
    a0[e] = x0[e * tc];
    a1[e] = x1[e * tc];
  }
  float v[kOpt];
#pragma unroll
  for (int o = 0; o < kOpt; ++o) {
    v[o] = w2x2[0] * a0[o];
    v[o] = fmaf(w2x2[1], a0[o + 1], v[o]);
    v[o] = fmaf(w2x2[2], a1[o], v[o]);
    v[o] = fmaf(w2x2[3], a1[o + 1], v[o]);
  }
  apply_epilogue(e1, v);
#pragma unroll
  for (int o = 0; o < kOpt; ++o) {
    const int gc = gc0 + o;
    dst[o * tc] = gc >= 0 && gc < W ? v[o] : 0.f;
  }
}

// A thread's channel in a fused kernel, fixed for the whole block
// (thread_channel: cc, and the work groups g0, g0 + gstep, ... of every pass).
// Everything that depends on the channel alone is loaded once: its 2x2
// direction, the three epilogues and the 2x2 weights.
struct FusedChannel {
  int cc, g0, gstep;
  int c;      // c0 + cc
  bool c_in;  // c < C; past C the thread computes zeros and writes nothing
  int pt, pl;  // the 2x2 direction's pad_top / pad_left for this channel
  ChannelEpilogue e1, e2, e3;
  float w2x2[4];
};
template <typename Params>
__device__ __forceinline__ FusedChannel fused_channel(const Params& p, int c0, int tc) {
  FusedChannel f;
  const ThreadChannel tch = thread_channel(tc);
  f.cc = tch.cc;
  f.g0 = tch.g0;
  f.gstep = tch.gstep;
  f.c = c0 + f.cc;
  f.c_in = f.c < p.c;
  const int cs = f.c_in ? f.c : 0;  // a valid channel to read parameters of
  f.pt = p.pad_top;
  f.pl = p.pad_left;
  if (p.symmetric) symmetric_pads(cs, p.c, &f.pt, &f.pl);
  f.e1 = channel_epilogue(p.e1, cs);
  f.e2 = channel_epilogue(p.e2, cs);
  f.e3 = channel_epilogue(p.e3, cs);
#pragma unroll
  for (int j = 0; j < 4; ++j) f.w2x2[j] = p.w2x2[cs * 4 + j];
  return f;
}

// A thread's 1xK and Kx1 taps: in registers when K is a compile-time constant
// (loaded once per thread: the thread keeps its channel), else read from the
// shared-memory copy ws1 / wsk (tap j at [j * tc]) at every use.
template <int K>
struct FusedTaps {
  static constexpr int kRegs = K > 0 ? K : 1;
  float w1[kRegs], wk[kRegs];
  const float* ws1;
  const float* wsk;
  int tc;
  // Channel cs's taps from global memory ([C][K] each) when K is known; the
  // shared copies (tap j of this thread's channel at ws1[j * tc]) otherwise.
  __device__ __forceinline__ void load(const float* w1xk, const float* wkx1, int cs, const float* s1,
                                       const float* sk, int tap_pitch) {
    ws1 = s1;
    wsk = sk;
    tc = tap_pitch;
    if constexpr (K > 0) {
#pragma unroll
      for (int j = 0; j < K; ++j) {
        w1[j] = w1xk[cs * K + j];
        wk[j] = wkx1[cs * K + j];
      }
    }
  }
};

// One item's line convolution with one of the thread's two filters:
//   acc[o] += sum_j w[j] * load(s*o + j),
// the 1xK pass along a t1 row (taps w1 / ws1), the Kx1 pass down a t2 column or
// ring of t2 rows (taps wk / wsk). Register taps when K is known.
template <int K, int OPT, typename Load>
__device__ __forceinline__ void conv_taps(const Load& load, int s, int k, const float (&wr)[FusedTaps<K>::kRegs],
                                          const float* ws, int wstep, float (&acc)[OPT]) {
  if constexpr (K > 0) {
    conv_window_regs<K, OPT>(load, s, wr, acc);
  } else {
    conv_window_any<OPT>(load, s, k, ws, wstep, acc);
  }
}
// t1 values `tc` apart.
template <int K, int OPT>
__device__ __forceinline__ void conv_1xk(const float* t1, int tc, int s, int k, const FusedTaps<K>& w,
                                         float (&acc)[OPT]) {
  conv_taps<K, OPT>([&](int q) { return t1[q * tc]; }, s, k, w.w1, w.ws1, w.tc, acc);
}
// t2 rows `row_step` apart.
template <int K, int OPT>
__device__ __forceinline__ void conv_kx1(const float* t2, int row_step, int s, int k, const FusedTaps<K>& w,
                                         float (&acc)[OPT]) {
  conv_taps<K, OPT>([&](int q) { return t2[q * row_step]; }, s, k, w.wk, w.wsk, w.tc, acc);
}

}  // namespace xsep::kernels
