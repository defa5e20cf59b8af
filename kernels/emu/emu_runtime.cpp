// The emulated device's launch: host threads, barriers, shared memory.
#include "emu_runtime.h"

#include <barrier>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <memory>
#include <new>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace xsep::emu {

thread_local ThreadState t_state;

namespace {
thread_local cudaError_t t_last_error = cudaSuccess;

using Barrier = std::barrier<>;

struct AlignedFree {
  void operator()(unsigned char* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

void poison(unsigned char* smem, size_t bytes) { std::memset(smem, 0xFF, bytes); }
}  // namespace

void syncthreads() { static_cast<Barrier*>(t_state.barrier)->arrive_and_wait(); }

cudaError_t take_last_error() {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t peek_last_error() { return t_last_error; }

namespace {

// Every lane of a warp must have made the same warp-collective calls (see
// note_warp_collective); lane l of warp w is thread 32 w + l of the block.
void check_warp_collectives(const std::vector<std::pair<uint64_t, uint64_t>>& calls, uint3 block) {
  for (size_t t = 0; t < calls.size(); ++t) {
    const size_t lane0 = t - t % 32;
    if (calls[t] == calls[lane0]) continue;
    std::fprintf(stderr,
                 "emulated device: block (%u,%u,%u), warp %zu: lane %zu made %llu warp-collective calls "
                 "(wmma *_sync) and lane 0 made %llu%s; every lane of a warp must make the same calls "
                 "with the same arguments\n",
                 block.x, block.y, block.z, t / 32, t % 32, static_cast<unsigned long long>(calls[t].first),
                 static_cast<unsigned long long>(calls[lane0].first),
                 calls[t].first == calls[lane0].first ? ", with different arguments or in another order" : "");
    std::abort();
  }
}

cudaError_t run_launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  // The limits of the real device (sm_90): 1024 threads, 227 KB of dynamic
  // shared memory per block, grid y and z below 65536.
  if (threads == 0 || threads > 1024 || blocks == 0) return cudaErrorInvalidValue;
  if (smem_bytes > 232448 || grid.y > 65535 || grid.z > 65535) return cudaErrorInvalidValue;

  const size_t bytes = smem_bytes == 0 ? 16 : smem_bytes;
  std::unique_ptr<unsigned char[], AlignedFree> smem;
  std::vector<std::pair<uint64_t, uint64_t>> warp_calls;  // per thread, at a block's end
  try {
    smem.reset(static_cast<unsigned char*>(::operator new[](bytes, std::align_val_t(64))));
    warp_calls.resize(threads);
  } catch (const std::bad_alloc&) {
    return cudaErrorMemoryAllocation;
  }
  poison(smem.get(), bytes);
  Barrier barrier(static_cast<std::ptrdiff_t>(threads));

  auto run = [&](uint32_t t) {
    ThreadState& s = t_state;
    s.thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    s.block_dim = block;
    s.grid_dim = grid;
    s.smem = smem.get();
    s.barrier = &barrier;
    for (uint64_t b = 0; b < blocks; ++b) {
      s.block_idx = uint3{static_cast<unsigned>(b % grid.x),
                          static_cast<unsigned>((b / grid.x) % grid.y),
                          static_cast<unsigned>(b / (uint64_t{grid.x} * grid.y))};
      s.warp_calls = s.warp_calls_hash = 0;
      body();
      warp_calls[t] = {s.warp_calls, s.warp_calls_hash};
      barrier.arrive_and_wait();  // the block is done
      if (t == 0) {
        check_warp_collectives(warp_calls, s.block_idx);
        poison(smem.get(), bytes);
      }
      barrier.arrive_and_wait();  // the next block starts on poisoned shared memory
    }
  };

  // Start gate: no thread runs a block before all of them exist, so a failure
  // to create one aborts the launch before any output is written.
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  enum { kWaiting, kGo, kAbort } gate = kWaiting;
  auto worker = [&](uint32_t t) {
    {
      std::unique_lock<std::mutex> lock(gate_mutex);
      gate_cv.wait(lock, [&] { return gate != kWaiting; });
      if (gate == kAbort) return;
    }
    run(t);
  };
  auto open_gate = [&](decltype(gate) to) {
    std::lock_guard<std::mutex> lock(gate_mutex);
    gate = to;
    gate_cv.notify_all();
  };

  std::vector<std::thread> pool;
  try {
    pool.reserve(threads);
    for (uint32_t t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  } catch (const std::exception&) {
    open_gate(kAbort);
    for (auto& th : pool) th.join();
    return cudaErrorLaunchFailure;
  }
  open_gate(kGo);
  run(0);  // the launching thread plays thread 0
  for (auto& th : pool) th.join();
  return cudaSuccess;
}

}  // namespace

// As the CUDA runtime does, a failed launch is also remembered for
// cudaGetLastError / cudaPeekAtLastError on this host thread.
cudaError_t launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const cudaError_t e = run_launch(grid, block, smem_bytes, body);
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

}  // namespace xsep::emu

// ---- The CUDA runtime subset of the emulated device (declared by
// cuda_runtime_api.h, exported from the emulated libxsep.so) -----------------
extern "C" {

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (p == nullptr) return cudaErrorInvalidValue;
  // Like the real allocator: 256-byte aligned, never NULL for 0 bytes.
  *p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  if (bytes) std::memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaGetLastError(void) { return xsep::emu::take_last_error(); }
cudaError_t cudaPeekAtLastError(void) { return xsep::emu::peek_last_error(); }

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return cudaErrorInvalidValue;
  *count = 1;
  return cudaSuccess;
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error (emulated device)";
    case cudaErrorInvalidValue: return "invalid argument (emulated device)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device)";
    case cudaErrorLaunchFailure: return "launch failed (emulated device)";
    default: return "unknown error (emulated device)";
  }
}

}  // extern "C"
