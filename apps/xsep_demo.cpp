// xsep-demo: runs one XSepConv block and the KxK depthwise convolution it
// replaces on a random tensor, with the naive reference and with the device
// kernels (the GPU, or the emulated device in an XSEP_DEVICE=emu build), and
// prints shapes, MACs per output, checksums, the agreement and timings.
//
//   xsep-demo [--n N] [--c C] [--h H] [--w W] [--k K] [--stride S] [--f16] [--nhwc] [--xsep-only]
//
// --xsep-only skips the KxK convolution (slow on the emulated device for large K).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "xsep/reference.h"
#include "xsep/xsep.h"

namespace {

struct Options {
  int64_t n = 1, c = 32, h = 56, w = 56;
  int k = 7, stride = 1;
  xsep_dtype dtype = XSEP_DTYPE_F32;
  xsep_layout layout = XSEP_LAYOUT_NCHW;
  bool xsep_only = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "xsep-demo: %s\nusage: xsep-demo [--n N] [--c C] [--h H] [--w W] [--k K] "
               "[--stride S] [--f16] [--nhwc] [--xsep-only]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> long long {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      char* end = nullptr;
      const long long v = std::strtoll(argv[++i], &end, 10);
      if (*end != '\0') usage(("not an integer: " + std::string(argv[i])).c_str());
      return v;
    };
    if (a == "--n") o.n = value();
    else if (a == "--c") o.c = value();
    else if (a == "--h") o.h = value();
    else if (a == "--w") o.w = value();
    else if (a == "--k") o.k = static_cast<int>(value());
    else if (a == "--stride") o.stride = static_cast<int>(value());
    else if (a == "--f16") o.dtype = XSEP_DTYPE_F16;
    else if (a == "--nhwc") o.layout = XSEP_LAYOUT_NHWC;
    else if (a == "--xsep-only") o.xsep_only = true;
    else usage(("unknown option " + a).c_str());
  }
  return o;
}

#define CHECK_CUDA(call)                                                                    \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess) {                                                                \
      std::fprintf(stderr, "xsep-demo: %s failed: %s\n", #call, cudaGetErrorString(e_));   \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

// Values of a float32 / float16 buffer as doubles (float16 decoded by hand).
double element(const std::vector<unsigned char>& buf, size_t i, xsep_dtype dt) {
  if (dt == XSEP_DTYPE_F32) {
    float f;
    std::memcpy(&f, &buf[i * 4], 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, &buf[i * 2], 2);
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : e == 31 ? INFINITY : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

std::vector<unsigned char> to_bytes(const std::vector<float>& v, xsep_dtype dt) {
  std::vector<unsigned char> out(v.size() * (dt == XSEP_DTYPE_F32 ? 4 : 2));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == XSEP_DTYPE_F32) {
      std::memcpy(&out[i * 4], &v[i], 4);
    } else {
      // float -> half by way of the nearest representable value (normal range
      // is enough for inputs in [-1, 1]): keep 10 mantissa bits, round to nearest.
      int e;
      const double m = std::frexp(std::fabs(v[i]), &e);  // |v| = m * 2^e
      uint16_t bits = 0;
      if (m != 0 && e > -14) {
        double units = std::nearbyint(m * 2048.0);  // 1024..2048
        int ee = e;
        if (units >= 2048) units /= 2, ++ee;
        bits = static_cast<uint16_t>(((ee - 1 + 15) << 10) | (static_cast<int>(units) - 1024));
      }
      if (v[i] < 0) bits |= 0x8000;
      std::memcpy(&out[i * 2], &bits, 2);
    }
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Result {
  std::vector<unsigned char> ref, dev;
  double ref_ms = 0, dev_ms = 0;
  bool ran_device = false;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const xsep_tensor_desc xd{o.n, o.c, o.h, o.w, o.dtype, o.layout};
  const int64_t ho = (o.h - 1) / std::max(o.stride, 1) + 1, wo = (o.w - 1) / std::max(o.stride, 1) + 1;
  const size_t x_elems = size_t(o.n * o.c * o.h * o.w), y_elems = size_t(o.n * o.c * ho * wo);
  const size_t esz = o.dtype == XSEP_DTYPE_F32 ? 4 : 2;

  std::mt19937 rng(2026);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto random = [&](size_t count, float scale) {
    std::vector<float> v(count);
    for (float& f : v) f = u(rng) * scale;
    return v;
  };
  const std::vector<unsigned char> x = to_bytes(random(x_elems, 1.f), o.dtype);
  const std::vector<float> w2 = random(o.c * 4, 0.5f), w1 = random(o.c * o.k, 1.f / std::sqrt(o.k)),
                           wk = random(o.c * o.k, 1.f / std::sqrt(o.k));
  // Drawn last so that --xsep-only changes none of the other values.
  const std::vector<float> wkk = o.xsep_only ? std::vector<float>() : random(o.c * o.k * o.k, 1.f / o.k);
  xsep_pad schedule[1];
  xsep_padding_schedule(1, schedule);  // a network with one 2x2 layer: SYMMETRIC

  int devices = 0;
  const bool have_device = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
  if (!have_device) (void)cudaGetLastError();

  // Runs `ref` on host buffers and `dev` on device buffers; both write y.
  auto run = [&](auto&& ref_call, auto&& dev_call, const char* what) {
    Result r;
    r.ref.assign(y_elems * esz, 0);
    auto t0 = std::chrono::steady_clock::now();
    xsep_status s = ref_call(r.ref.data());
    r.ref_ms = ms_since(t0);
    if (s != XSEP_STATUS_SUCCESS) {
      std::fprintf(stderr, "xsep-demo: %s (reference): %s: %s\n", what, xsep_status_string(s), xsep_last_error());
      std::exit(1);
    }
    if (!have_device) return r;
    void *dx, *dy;
    CHECK_CUDA(cudaMalloc(&dx, x.size()));
    CHECK_CUDA(cudaMalloc(&dy, y_elems * esz));
    CHECK_CUDA(cudaMemcpy(dx, x.data(), x.size(), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaDeviceSynchronize());
    t0 = std::chrono::steady_clock::now();
    s = dev_call(dx, dy);
    CHECK_CUDA(cudaDeviceSynchronize());
    r.dev_ms = ms_since(t0);
    if (s != XSEP_STATUS_SUCCESS) {
      std::fprintf(stderr, "xsep-demo: %s (device): %s: %s\n", what, xsep_status_string(s), xsep_last_error());
      std::exit(1);
    }
    r.dev.resize(y_elems * esz);
    CHECK_CUDA(cudaMemcpy(r.dev.data(), dy, r.dev.size(), cudaMemcpyDeviceToHost));
    cudaFree(dx);
    cudaFree(dy);
    r.ran_device = true;
    return r;
  };
  auto upload = [&](const std::vector<float>& v) {
    void* p = nullptr;
    CHECK_CUDA(cudaMalloc(&p, v.size() * 4));
    CHECK_CUDA(cudaMemcpy(p, v.data(), v.size() * 4, cudaMemcpyHostToDevice));
    return static_cast<float*>(p);
  };
  float *d2 = nullptr, *d1 = nullptr, *dk = nullptr, *dkk = nullptr;
  if (have_device) {
    d2 = upload(w2), d1 = upload(w1), dk = upload(wk);
    if (!o.xsep_only) dkk = upload(wkk);
  }

  const xsep_epilogue relu{nullptr, nullptr, XSEP_ACT_RELU};
  const xsep_xsepconv_params ph{o.k, o.stride, schedule[0], w2.data(), w1.data(), wk.data(), relu, relu, relu};
  const xsep_xsepconv_params pd{o.k, o.stride, schedule[0], d2, d1, dk, relu, relu, relu};
  Result xs = run([&](void* y) { return xsep_ref_xsepconv(&xd, x.data(), &ph, y, nullptr); },
                  [&](void* dx, void* dy) { return xsep_xsepconv(&xd, dx, &pd, dy, nullptr); }, "XSepConv");
  Result kk;
  if (!o.xsep_only)
    kk = run([&](void* y) { return xsep_ref_dwconvkxk(&xd, x.data(), wkk.data(), o.k, o.stride, &relu, y, nullptr); },
             [&](void* dx, void* dy) { return xsep_dwconvkxk(&xd, dx, dkk, o.k, o.stride, &relu, dy, nullptr); }, "KxK");

  std::printf("xsep %d.%d.%d (library %d), %s device\n", XSEP_VERSION_MAJOR, XSEP_VERSION_MINOR,
              XSEP_VERSION_PATCH, xsep_version(), have_device ? "with a" : "without a");
  std::printf("input  %lld x %lld x %lld x %lld (N C H W), %s, %s\n", (long long)o.n, (long long)o.c,
              (long long)o.h, (long long)o.w, o.dtype == XSEP_DTYPE_F32 ? "float32" : "float16",
              o.layout == XSEP_LAYOUT_NCHW ? "NCHW" : "NHWC");
  std::printf("output %lld x %lld x %lld x %lld, K = %d, stride %d, 2x2 padding SYMMETRIC\n", (long long)o.n,
              (long long)o.c, (long long)ho, (long long)wo, o.k, o.stride);
  auto report = [&](const char* name, const Result& r, int macs) {
    double sum = 0, max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < y_elems; ++i) {
      const double v = element(r.ref, i, o.dtype);
      sum += v;
      max_ref = std::max(max_ref, std::fabs(v));
      if (r.ran_device) max_diff = std::max(max_diff, std::fabs(element(r.dev, i, o.dtype) - v));
    }
    std::printf("%-9s %4d MACs/output  checksum %+.6e  reference %9.2f ms", name, macs, sum, r.ref_ms);
    if (r.ran_device)
      std::printf("  device %8.2f ms  max|device-ref| %.2e (%.1e of max|y|)", r.dev_ms, max_diff,
                  max_ref > 0 ? max_diff / max_ref : 0.0);
    std::printf("\n");
  };
  report("XSepConv", xs, 4 + 2 * o.k);
  if (!o.xsep_only) report("KxK dw", kk, o.k * o.k);
  if (have_device) {
    cudaFree(d2), cudaFree(d1), cudaFree(dk), cudaFree(dkk);
  } else {
    std::printf("(no CUDA device: device kernels not run; build with -DXSEP_DEVICE=emu to run them on the CPU)\n");
  }
  return 0;
}
