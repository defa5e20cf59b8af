// Copies a window of the input into shared memory as float32, zero-filled
// outside the image and past the last channel: the kernels' only read of x.
#pragma once

#include "device_common.cuh"

namespace xsep::kernels {

// Where x lives and how it is laid out.
struct InputView {
  const void* data;
  int c, h, w;
  bool nhwc;
  int vec;  // elements per 16-byte load (NHWC, aligned, C % vec == 0), else 1
};

// Writes one staged 16-byte input vector (4 floats from float32 I/O, 8 from
// float16) as 16-byte shared stores. Thread t writes floats [V*t, V*t + V) of
// a contiguous run (the caller's dst is 16-byte aligned: tc and every region
// offset are multiples of 4 floats).
// Why not scalar stores: with a stride of V floats between threads, a scalar
// STS has a V-way bank conflict (t and t + 32/V hit the same bank), i.e. V
// wavefronts for 32 floats. A 16-byte store is served in four phases of eight
// threads (128 bytes each), conflict-free when the eight 16-byte slots of a
// phase are distinct modulo 128 bytes:
//   V = 4: thread t writes bytes 16t: slots 0..7 of the phase. One store.
//   V = 8: thread t writes bytes 32t and 32t + 16; threads t and t + 4 of a
//   phase would share a slot, so the second half of the phase (bit 2 of t)
//   writes its upper four floats first: slots 0,2,4,6,1,3,5,7 in each store.
template <int V>
__device__ __forceinline__ void store_staged_vector(const float (&f)[V], float* dst) {
  static_assert(V == 4 || V == 8, "16-byte vectors of float32 or float16");
  float4* d4 = reinterpret_cast<float4*>(dst);
  if constexpr (V == 4) {
    d4[0] = float4{f[0], f[1], f[2], f[3]};
  } else {
    const float4 lo{f[0], f[1], f[2], f[3]};
    const float4 hi{f[4], f[5], f[6], f[7]};
    const bool swap = (threadIdx.x >> 2) & 1;
    d4[swap ? 1 : 0] = swap ? hi : lo;
    d4[swap ? 0 : 1] = swap ? lo : hi;
  }
}

// Where staged unit idx comes from: units of `width` consecutive channels,
// idx = (r * cols + col) * units + u holds channels c0 + u*width .. of x row
// r0 + r, column col0 + col. Returns its element offset in x, or -1 when idx is
// past `total` or the unit lies outside the image or past the last channel
// (staged as zero; a 16-byte unit is wholly in or out since C % width == 0).
__device__ __forceinline__ int staged_source(const InputView& in, int n, int c0, int r0, int col0, int cols,
                                             int units, int width, int idx, int total) {
  const int u = idx % units, rc = idx / units;
  const int ih = r0 + rc / cols, iw = col0 + rc % cols, c = c0 + u * width;
  if (idx >= total || ih < 0 || ih >= in.h || iw < 0 || iw >= in.w || c >= in.c) return -1;
  return in.nhwc ? ((n * in.h + ih) * in.w + iw) * in.c + c : ((n * in.c + c) * in.h + ih) * in.w + iw;
}

// Fills tile[(r * cols + col) * tc + cc] = x(n, c0 + cc, r0 + r, col0 + col)
// for r < rows, col < cols, cc < tc. The linear index runs with cc fastest,
// then col: consecutive threads read consecutive addresses in both layouts
// (NHWC: channels; NCHW with tc == 1: columns), so the loads coalesce.
// Loads in flight: a thread issues U independent global loads (elements idx,
// idx + blockDim.x, ...) before it stores any of them; a load-then-store loop
// would keep one load per thread in flight, too few bytes to cover the DRAM
// latency (bench/NOTES.md). U = 2 for 16-byte vectors, 4 for single elements.
template <typename T>
__device__ __forceinline__ void stage_input(const InputView& in, int n, int c0, int tc, int r0,
                                            int col0, int rows, int cols, float* tile) {
  const T* x = static_cast<const T*>(in.data);
  const int stride = blockDim.x;
  if (in.vec > 1) {
    // 16-byte path (NHWC): a vector holds `vec` consecutive channels; c0 and
    // tc are multiples of vec and so is C, so a vector is wholly in or out.
    // Vector idx is (r * cols + col) * tcv + cv and lands at tile + idx * V
    // (in.vec == V whenever it is > 1: staging_vec).
    constexpr int U = 2, V = 16 / sizeof(T);
    const int tcv = tc / in.vec;
    const int total = rows * cols * tcv;
    for (int base = threadIdx.x; base < total; base += U * stride) {
      uint4 raw[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int off = staged_source(in, n, c0, r0, col0, cols, tcv, V, base + u * stride, total);
        raw[u] = off >= 0 ? *reinterpret_cast<const uint4*>(x + off) : uint4{0, 0, 0, 0};  // 0.0 in either type
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int idx = base + u * stride;
        if (idx >= total) break;
        T v[V];
        __builtin_memcpy(static_cast<void*>(v), &raw[u], sizeof raw[u]);
        float f[V];
#pragma unroll
        for (int e = 0; e < V; ++e) f[e] = to_float(v[e]);
        store_staged_vector(f, tile + idx * V);
      }
    }
    return;
  }
  constexpr int U = 4;
  const int total = rows * cols * tc;
  for (int base = threadIdx.x; base < total; base += U * stride) {
    float v[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int off = staged_source(in, n, c0, r0, col0, cols, tc, 1, base + u * stride, total);
      v[u] = off >= 0 ? to_float(x[off]) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int idx = base + u * stride;
      if (idx < total) tile[idx] = v[u];
    }
  }
}

// The tile a block computes. Blocks are numbered
//   blockIdx.x = ((n * tiles_c + cb) * tiles_h + ih) * tiles_w + iw,
// so neighbouring blocks share an image and channel block and walk along W.
struct TileOrigin {
  int n, c0, oh0, ow0;  // image, first channel, first output row and column
};
__device__ __forceinline__ TileOrigin tile_origin(int tiles_h, int tiles_w, int tiles_c, int tile_h, int tile_w,
                                                  int tile_c) {
  int b = blockIdx.x;
  const int iw = b % tiles_w;  // tile indices along W, H and C
  b /= tiles_w;
  const int ih = b % tiles_h;
  b /= tiles_h;
  const int cb = b % tiles_c;
  return TileOrigin{b / tiles_c, cb * tile_c, ih * tile_h, iw * tile_w};
}

// Staging vector width: 16 bytes of channels when the NHWC input allows it.
inline int staging_vec(const void* x, bool nhwc, int channels, int elem_bytes) {
  const int width = 16 / elem_bytes;
  const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
  return (nhwc && aligned && channels % width == 0) ? width : 1;
}

// Offset of output element (n, c, oh, ow) of an N x C x HO x WO tensor.
__device__ __forceinline__ int out_offset(bool nhwc, int c_total, int ho, int wo, int n, int c,
                                          int oh, int ow) {
  return nhwc ? ((n * ho + oh) * wo + ow) * c_total + c : ((n * c_total + c) * ho + oh) * wo + ow;
}

// Copies `count` per-channel weights (count taps for each of tc channels) into
// shared memory as wts[tap * tc + cc], zero for channels past C.
__device__ __forceinline__ void stage_weights(const float* w, int taps, int c0, int tc, int c_total,
                                              float* wts) {
  for (int i = threadIdx.x; i < taps * tc; i += blockDim.x) {
    const int cc = i % tc, tap = i / tc, c = c0 + cc;
    wts[i] = c < c_total ? w[c * taps + tap] : 0.f;
  }
}

}  // namespace xsep::kernels
