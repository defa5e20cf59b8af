// The emulated device: just enough of the CUDA programming model for our
// kernel sources to compile with the host compiler and run on the host.
//
// Execution model (emu_runtime.cpp, and the engines emu_fibers.cpp and
// emu_threads.cpp): a launch runs its blocks one after another; every CUDA
// thread of a block has its own ThreadState (coordinates, call records), and
// __syncthreads() is a barrier over the block's threads. The dynamic shared
// memory is one buffer per launch, poisoned with 0xFF bytes (a float NaN)
// before every block so that reading shared memory the block never wrote shows
// up as NaN in the output. Two engines run a block's threads:
//   fibers   one host thread runs the block's CUDA threads as fibers, each
//            until its next __syncthreads or its end, in a shuffled order
//            that changes from round to round, so a read of another thread's
//            write that lacks a barrier comes first (and sees poison) in
//            about half the rounds. The default on x86-64, except under
//            ThreadSanitizer and with CET shadow stacks.
//   threads  one host thread per CUDA thread (reused across the launch's
//            blocks) and a std::barrier: the engine ThreadSanitizer checks
//            for races between a block's threads.
// XSEP_EMU_ENGINE=threads|fibers chooses one (see engine() below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>  // fmaf, fminf, fmaxf: the device math functions the kernels use

// cuda_fp16.h and vector_types.h work with a host compiler (`__half`, `uint4`,
// conversions). They define the CUDA keywords through crt/host_defines.h, so
// ours must replace them afterwards.
#include <cuda_fp16.h>
#include <vector_types.h>

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __launch_bounds__
#undef __forceinline__
#define __global__
#define __device__
#define __host__
#define __launch_bounds__(...)
#define __forceinline__ inline __attribute__((always_inline))

// cuda_fp16.h brings cuda_runtime_api.h: the runtime's types (cudaError_t,
// cudaStream_t, ...) and declarations. The emulated libxsep.so defines the
// subset that the library and its tests call (emu_runtime.cpp): device memory is
// host memory, streams are synchronous, and cudaGetDeviceCount reports one device.

namespace xsep::emu {

struct ThreadState {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char* smem;
  // The engine's __syncthreads for this thread, and its per-thread data (the
  // std::barrier or the fiber; opaque here to keep both out of the kernels).
  void (*syncthreads)(ThreadState&);
  void* engine;
  // This thread's __syncthreads calls in the current block. At the block's
  // end the launch checks that every thread of the block made the same number
  // (CUDA allows __syncthreads under a branch only if the whole block takes it).
  uint64_t syncs;
  // This thread's warp-collective calls in the current block (wmma's *_sync):
  // how many, and a hash of their ordered signatures. At the block's end the
  // launch checks that all lanes of each warp agree (see note_warp_collective).
  uint64_t warp_calls;
  uint64_t warp_calls_hash;
};

// The CUDA thread the calling host thread (or fiber) is playing: set by the
// engine before it runs a thread, so threadIdx and friends read its state.
extern thread_local ThreadState* t_current;
inline ThreadState& current() { return *t_current; }

// Records a call that CUDA requires every lane of the warp to make, in the same
// order and with the same arguments (wmma::load_matrix_sync, mma_sync,
// store_matrix_sync): `signature` encodes the call and its warp-uniform
// arguments. Host threads do not run in lockstep, so the check comes at the
// block's end: a warp whose lanes made different sequences of such calls
// (a call under a lane-dependent branch, a lane-dependent pointer) aborts the
// process like a device trap, naming the block, warp and lanes.
// splitmix64's finaliser: a well-mixed 64-bit function of x.
inline uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline void note_warp_collective(uint64_t signature) {
  ThreadState& s = current();
  s.warp_calls_hash = mix64(s.warp_calls_hash ^ (signature + 0x9E3779B97F4A7C15ull));
  ++s.warp_calls;
}

// Returns once every thread of the block has arrived (__syncthreads).
inline void syncthreads() {
  ThreadState& s = current();
  ++s.syncs;
  s.syncthreads(s);
}

// Runs body() as a grid of `grid` blocks of `block` threads with `smem_bytes`
// of dynamic shared memory. Synchronous. Fails before any thread runs:
// cudaErrorInvalidValue for a configuration beyond the limits of the card
// (device_profile(): 1024 threads, its shared memory per block),
// cudaErrorMemoryAllocation when the shared memory, states or fiber stacks
// cannot be had, cudaErrorLaunchFailure when host threads cannot be created.
// A launch from inside a kernel (CUDA's dynamic parallelism, which the
// library does not use) aborts with a message.
cudaError_t launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body);
// The same for a launch of `kernel` (launch_kernel's): as on a GPU, more than
// 48 KB of dynamic shared memory also needs the kernel's opt-in,
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
// n >= smem_bytes), since the last cudaDeviceReset; without it the launch
// fails with cudaErrorInvalidValue. (The kernel-less launch above, for the
// emulator's own tests, checks only the card's limit.)
cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body);

// The card the emulated device stands for: its shared-memory limits and SM
// count, which cudaDeviceGetAttribute reports and launch() enforces (a block
// asking for more dynamic shared memory than the card allows fails with
// cudaErrorInvalidValue, as on the card). XSEP_EMU_DEVICE, read at the first
// query, names one: h100 (the default; also an H200), a100, l4 (and the other
// sm_86 / sm_89 cards), t4, or tiny (no card: 8 KB, for the tests of a problem
// with no tile that fits); another value aborts with a message. The
// launchers size their tiles from these limits, so the kernel tests can check
// the tiles chosen for cards with less shared memory than an H100.
struct DeviceProfile {
  const char* name;
  size_t smem_per_block_optin, smem_per_sm, smem_reserved_per_block;
  int sm_count;
};
const DeviceProfile& device_profile();

// The engine that runs launches (see the top of this file). The first launch
// reads XSEP_EMU_ENGINE (threads or fibers; unset or empty: the default, which
// is fibers where they are available); a value it cannot honour aborts with a
// message. use_engine() switches for the launches that follow and returns
// false, changing nothing, for an engine this build lacks (fibers need x86-64
// and no ThreadSanitizer nor CET shadow stacks). For the emulator's own tests.
enum class Engine { kThreads, kFibers };
Engine engine();
bool engine_available(Engine e);
bool use_engine(Engine e);

// The last failed launch's error on this host thread: take (cudaGetLastError)
// clears it, peek (cudaPeekAtLastError) does not.
cudaError_t take_last_error();
cudaError_t peek_last_error();

}  // namespace xsep::emu

#define threadIdx (::xsep::emu::current().thread_idx)
#define blockIdx (::xsep::emu::current().block_idx)
#define blockDim (::xsep::emu::current().block_dim)
#define gridDim (::xsep::emu::current().grid_dim)

inline void __syncthreads() { ::xsep::emu::syncthreads(); }
template <class T>
inline T __ldg(const T* p) { return *p; }
