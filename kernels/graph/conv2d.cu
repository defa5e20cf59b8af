// Direct 2-D convolution in full ONNX generality (graph_kernels.h: conv2d):
// groups, strides, dilations, asymmetric pads, NCHW or NHWC. For the convs the
// specialised kernels do not cover (e.g. MobileNetV3's 3x3 stride-2 stem).
//
// One output per thread, in a grid-stride loop over the flat output index,
// which runs in memory order (NCHW: ow fastest; NHWC: co fastest) so stores
// coalesce and, NCHW, a warp shares its filter (broadcast loads). The loops
// over taps skip rows / columns outside the image (zero padding); the inner
// loop walks the group's input channels.
#include "graph_common.cuh"

namespace xsep::kernels::graph {
namespace {

struct ConvParams {
  const void* x;
  const float* wt;    // [co][cig][kh][kw]
  const float* bias;  // [co] or null
  void* y;
  int n, ci, h, w, co, ho, wo;
  int kh, kw, sh, sw, pt, pl, dh, dw;
  int cig, cog;  // input / output channels per group
  int total;     // n * co * ho * wo
  Act act;
  bool y_f16;
};

template <typename T, bool kNhwc>
__global__ void __launch_bounds__(kThreads) conv2d_kernel(const ConvParams p) {
  const T* x = static_cast<const T*>(p.x);
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i64 = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i64 < p.total; i64 += step) {
    // Flat output index in memory order:
    //   NCHW: idx = ((n * co + c) * ho + oh) * wo + ow
    //   NHWC: idx = ((n * ho + oh) * wo + ow) * co + c
    const int idx = static_cast<int>(i64);
    int t = idx, c, oh, ow, n;
    if (kNhwc) {
      c = t % p.co, t /= p.co;
      ow = t % p.wo, t /= p.wo;
      oh = t % p.ho, n = t / p.ho;
    } else {
      ow = t % p.wo, t /= p.wo;
      oh = t % p.ho, t /= p.ho;
      c = t % p.co, n = t / p.co;
    }
    const int ci0 = (c / p.cog) * p.cig;  // first input channel of c's group
    const int taps = p.kh * p.kw;
    // Input channel step in x, and x's offset of (n, ci0, 0, 0).
    const int cstep = kNhwc ? 1 : p.h * p.w;
    const int xn = kNhwc ? n * p.h * p.w * p.ci + ci0 : (n * p.ci + ci0) * p.h * p.w;
    const float* wc = p.wt + c * p.cig * taps;
    float acc = p.bias != nullptr ? __ldg(p.bias + c) : 0.f;
    const int ih0 = oh * p.sh - p.pt, iw0 = ow * p.sw - p.pl;
    for (int i = 0; i < p.kh; ++i) {
      const int ih = ih0 + i * p.dh;
      if (ih < 0 || ih >= p.h) continue;
      for (int j = 0; j < p.kw; ++j) {
        const int iw = iw0 + j * p.dw;
        if (iw < 0 || iw >= p.w) continue;
        const int pix = ih * p.w + iw;
        const T* xp = x + xn + (kNhwc ? pix * p.ci : pix);
        const float* wp = wc + i * p.kw + j;
        for (int cc = 0; cc < p.cig; ++cc)
          acc = fmaf(__ldg(wp + cc * taps), to_float(xp[cc * cstep]), acc);
      }
    }
    store_act(p.y, idx, p.y_f16, apply_act(p.act, acc));
  }
}

}  // namespace

XSEP_GRAPH_EXPORT int conv2d(const ConvArgs& a, cudaStream_t stream) {
  if (a.n < 0 || a.ci < 1 || a.h < 1 || a.w < 1 || a.co < 0 || a.ho < 0 || a.wo < 0 ||
      a.kh < 1 || a.kw < 1 || a.sh < 1 || a.sw < 1 || a.dh < 1 || a.dw < 1 || a.group < 1)
    return kInvalid;
  if (a.n == 0 || a.co == 0 || a.ho == 0 || a.wo == 0) return 0;
  if (a.ci % a.group != 0 || a.co % a.group != 0) return kInvalid;
  if (a.x.data == nullptr || a.weights == nullptr || a.y == nullptr) return kInvalid;
  const int64_t total = int64_t{a.n} * a.co * a.ho * a.wo;
  const int64_t in_total = int64_t{a.n} * a.ci * a.h * a.w;
  const int64_t w_total = int64_t{a.co} * (a.ci / a.group) * a.kh * a.kw;
  if (total > kMaxElements || in_total > kMaxElements || w_total > kMaxElements) return kInvalid;

  ConvParams p{};
  p.x = a.x.data;
  p.wt = a.weights;
  p.bias = a.bias;
  p.y = a.y;
  p.n = a.n, p.ci = a.ci, p.h = a.h, p.w = a.w, p.co = a.co, p.ho = a.ho, p.wo = a.wo;
  p.kh = a.kh, p.kw = a.kw, p.sh = a.sh, p.sw = a.sw, p.pt = a.pt, p.pl = a.pl;
  p.dh = a.dh, p.dw = a.dw;
  p.cig = a.ci / a.group;
  p.cog = a.co / a.group;
  p.total = static_cast<int>(total);
  p.act = a.act;
  p.y_f16 = a.y_f16;

  void (*kernel)(ConvParams);
  if (a.x.f16)
    kernel = a.nhwc ? &conv2d_kernel<__half, true> : &conv2d_kernel<__half, false>;
  else
    kernel = a.nhwc ? &conv2d_kernel<float, true> : &conv2d_kernel<float, false>;
  return static_cast<int>(launch_kernel(kernel, dim3(grid_stride_blocks(total)), dim3(kThreads),
                                        0, stream, p));
}

}  // namespace xsep::kernels::graph
