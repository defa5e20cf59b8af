// The emulated device's tensor-core fragments: the layout-free part of CUDA's
// warp matrix API (nvcuda::wmma in <mma.h>) for 16x16x16 tiles of float16
// with float32 accumulators, which is all the kernels use.
//
// On a GPU a fragment is spread over the 32 lanes of a warp in an unspecified
// layout, so a correct kernel only fills, loads, multiplies and stores whole
// fragments and never indexes one (this header gives it no way to: no `x[]`,
// so such a kernel does not compile for the emulator). Here each emulated
// thread holds the whole 16x16 tile of an A or B fragment, and of an
// accumulator only the elements its lane owns: element (i, j) belongs to lane
// (16 i + j) % 32 of its warp (lane = linear thread index % 32). mma_sync
// computes and store_matrix_sync writes only those, so the 32 lanes together
// write each element once, as on the GPU (no write races for TSan to see).
// Elements a lane does not own are NaN, so a store by the wrong lane shows.
//
// The API's documented preconditions are checked, and a violation aborts
// like a device trap: a 256-bit (32-byte) aligned pointer, ldm a multiple of
// 16 bytes, a block of whole warps, and every *_sync call made by all 32
// lanes of the warp with the same pointer, ldm and layout (each call is
// recorded with xsep::emu::note_warp_collective; the launch compares the
// lanes' records at the end of the block).
#pragma once

#include "emu_runtime.h"  // blockDim, threadIdx, note_warp_collective

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <type_traits>

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "emulated wmma: %s\n", what);
  std::abort();
}

inline void check_ptr(const void* p, unsigned ldm, unsigned elem_bytes) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0) fail("pointer not 256-bit aligned");
  if (ldm * elem_bytes % 16 != 0) fail("ldm not a multiple of 16 bytes");
}

// This thread's lane in its warp (threads are numbered x fastest, as on the GPU).
inline int lane() {
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  if (threads % 32 != 0) fail("block is not a whole number of warps");
  const unsigned linear = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  return static_cast<int>(linear % 32);
}

inline bool owns(int lane, int i, int j) { return (16 * i + j) % 32 == lane; }

// What the lanes of a warp must agree on for one *_sync call: which call, and
// its pointer, leading dimension and layout (the fragments are per lane).
// Every *_sync call comes through here, so it also checks for whole warps.
enum class Call : uint64_t { kLoadA = 1, kLoadB, kMma, kStore };
inline void note(Call call, const void* p = nullptr, unsigned ldm = 0, unsigned layout = 0) {
  (void)lane();  // a block of whole warps
  uint64_t sig = static_cast<uint64_t>(reinterpret_cast<std::uintptr_t>(p));
  sig = sig * 1000003u + ldm;
  sig = sig * 1000003u + layout;
  sig = sig * 1000003u + static_cast<uint64_t>(call);
  ::xsep::emu::note_warp_collective(sig);
}

// Offset of element (i, j) of a tile stored with leading dimension ldm.
template <typename Layout>
inline unsigned offset(int i, int j, unsigned ldm) {
  return std::is_same_v<Layout, row_major> ? i * ldm + j : j * ldm + i;
}

}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
class fragment;

// A (16 x 16, rows i, columns k) or B (16 x 16, rows k, columns j) of float16.
template <typename Use, typename Layout>
class fragment<Use, 16, 16, 16, __half, Layout> {
 public:
  float v[16][16];
};

// The float32 accumulator: only this lane's elements are meaningful.
template <>
class fragment<accumulator, 16, 16, 16, float, void> {
 public:
  float v[16][16];
};

inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float value) {
  (void)detail::lane();  // a block of whole warps
  for (auto& row : f.v)
    for (float& e : row) e = value;
}

template <typename Use, typename Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __half, Layout>& f, const __half* p, unsigned ldm) {
  detail::check_ptr(p, ldm, sizeof(__half));
  detail::note(std::is_same_v<Use, matrix_a> ? detail::Call::kLoadA : detail::Call::kLoadB, p, ldm,
               std::is_same_v<Layout, row_major> ? 0u : 1u);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.v[r][c] = __half2float(p[detail::offset<Layout>(r, c, ldm)]);
}

template <typename LayoutA, typename LayoutB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
                     const fragment<matrix_a, 16, 16, 16, __half, LayoutA>& a,
                     const fragment<matrix_b, 16, 16, 16, __half, LayoutB>& b,
                     const fragment<accumulator, 16, 16, 16, float>& c) {
  const int lane = detail::lane();
  detail::note(detail::Call::kMma, nullptr, 0,
               (std::is_same_v<LayoutA, row_major> ? 0u : 1u) | (std::is_same_v<LayoutB, row_major> ? 0u : 2u));
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      if (!detail::owns(lane, i, j)) {
        d.v[i][j] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      float acc = c.v[i][j];
      for (int k = 0; k < 16; ++k) acc = fmaf(a.v[i][k], b.v[k][j], acc);
      d.v[i][j] = acc;
    }
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm,
                              layout_t layout) {
  detail::check_ptr(p, ldm, sizeof(float));
  const int lane = detail::lane();
  detail::note(detail::Call::kStore, p, ldm, layout == mem_row_major ? 0u : 1u);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      if (detail::owns(lane, i, j))
        p[layout == mem_row_major ? detail::offset<row_major>(i, j, ldm) : detail::offset<col_major>(i, j, ldm)] =
            f.v[i][j];
}

}  // namespace nvcuda::wmma
