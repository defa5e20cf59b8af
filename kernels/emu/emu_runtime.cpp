// The emulated device's launch: validation, shared memory, the per-block
// checks, and the choice of engine (emu_fibers.cpp, emu_threads.cpp).
#include "emu_runtime.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <memory>
#include <new>
#include <set>
#include <numeric>
#include <vector>

#include "emu_engine.h"

namespace xsep::emu {

thread_local ThreadState* t_current = nullptr;

namespace {
thread_local cudaError_t t_last_error = cudaSuccess;

struct AlignedFree {
  void operator()(unsigned char* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

void poison(unsigned char* smem, size_t bytes) { std::memset(smem, 0xFF, bytes); }

// The engine of the next launch: XSEP_EMU_ENGINE on first use, then use_engine().
std::atomic<int> g_engine{-1};

Engine engine_from_environment() {
  const Engine fallback = detail::fibers_built() ? Engine::kFibers : Engine::kThreads;
  const char* v = std::getenv("XSEP_EMU_ENGINE");
  if (v == nullptr || *v == '\0') return fallback;
  const std::string want(v);
  Engine e;
  if (want == "threads") {
    e = Engine::kThreads;
  } else if (want == "fibers") {
    e = Engine::kFibers;
  } else {
    std::fprintf(stderr, "emulated device: XSEP_EMU_ENGINE must be 'threads' or 'fibers', not '%s'\n", v);
    std::abort();
  }
  if (!engine_available(e)) {
    std::fprintf(stderr,
                 "emulated device: XSEP_EMU_ENGINE=%s, but this build has no fibers engine (it needs x86-64, "
                 "no ThreadSanitizer and no CET shadow stacks)\n",
                 v);
    std::abort();
  }
  return e;
}
}  // namespace

bool engine_available(Engine e) { return e == Engine::kThreads || detail::fibers_built(); }

Engine engine() {
  int e = g_engine.load(std::memory_order_acquire);
  if (e < 0) {
    int expected = -1;
    g_engine.compare_exchange_strong(expected, static_cast<int>(engine_from_environment()),
                                     std::memory_order_acq_rel);
    e = g_engine.load(std::memory_order_acquire);
  }
  return static_cast<Engine>(e);
}

bool use_engine(Engine e) {
  if (!engine_available(e)) return false;
  g_engine.store(static_cast<int>(e), std::memory_order_release);
  return true;
}

cudaError_t take_last_error() {
  cudaError_t e = t_last_error;
  t_last_error = cudaSuccess;
  return e;
}
cudaError_t peek_last_error() { return t_last_error; }

namespace detail {

void begin_block(Launch& l, uint64_t i) {
  // The i-th block to run, b (see block_step), in grid coordinates, x fastest.
  const uint64_t b = static_cast<uint64_t>((static_cast<unsigned __int128>(i) * l.block_step) % l.blocks);
  const uint3 block_idx{static_cast<unsigned>(b % l.grid.x), static_cast<unsigned>((b / l.grid.x) % l.grid.y),
                        static_cast<unsigned>(b / (uint64_t{l.grid.x} * l.grid.y))};
  for (ThreadState& s : *l.states) {
    s.block_idx = block_idx;
    s.syncs = s.warp_calls = s.warp_calls_hash = 0;
  }
}

void check_syncthreads_counts(const Launch& l) {
  const std::vector<ThreadState>& st = *l.states;
  for (size_t t = 1; t < st.size(); ++t) {
    if (st[t].syncs == st[0].syncs) continue;
    const uint3 b = st[0].block_idx;
    std::fprintf(stderr,
                 "emulated device: block (%u,%u,%u): thread %zu called __syncthreads %llu times and thread 0 "
                 "%llu; CUDA allows __syncthreads under a condition only if the whole block takes it\n",
                 b.x, b.y, b.z, t, static_cast<unsigned long long>(st[t].syncs),
                 static_cast<unsigned long long>(st[0].syncs));
    std::abort();
  }
}

namespace {
// Every lane of a warp must have made the same warp-collective calls (see
// note_warp_collective); lane l of warp w is thread 32 w + l of the block.
void check_warp_collectives(const Launch& l) {
  const std::vector<ThreadState>& st = *l.states;
  for (size_t t = 0; t < st.size(); ++t) {
    const ThreadState& lane0 = st[t - t % 32];
    if (st[t].warp_calls == lane0.warp_calls && st[t].warp_calls_hash == lane0.warp_calls_hash) continue;
    const uint3 b = st[t].block_idx;
    std::fprintf(stderr,
                 "emulated device: block (%u,%u,%u), warp %zu: lane %zu made %llu warp-collective calls "
                 "(wmma *_sync) and lane 0 made %llu%s; every lane of a warp must make the same calls "
                 "with the same arguments\n",
                 b.x, b.y, b.z, t / 32, t % 32, static_cast<unsigned long long>(st[t].warp_calls),
                 static_cast<unsigned long long>(lane0.warp_calls),
                 st[t].warp_calls == lane0.warp_calls ? ", with different arguments or in another order" : "");
    std::abort();
  }
}
}  // namespace

void end_block(Launch& l) {
  check_syncthreads_counts(l);
  check_warp_collectives(l);
  poison(l.smem, l.smem_bytes);
}

}  // namespace detail

namespace {

// The per-kernel opt-ins to more than 48 KB of dynamic shared memory
// (cudaFuncSetAttribute), which belong to the CUDA context: cudaDeviceReset
// forgets them.
constexpr size_t kSmemWithoutOptIn = 48 * 1024;
std::mutex& g_opt_in_mutex = *new std::mutex;  // never destroyed, like the map
std::map<const void*, size_t>& opt_ins() {
  static auto* const m = new std::map<const void*, size_t>;  // never destroyed: launches at exit
  return *m;
}
size_t smem_opt_in(const void* kernel) {
  std::lock_guard<std::mutex> lock(g_opt_in_mutex);
  const auto it = opt_ins().find(kernel);
  return it == opt_ins().end() ? 0 : it->second;
}

// Blocks run in a scattered order, not 0, 1, 2, ...: on a GPU they run in any
// order and at once, so a block that writes into a neighbour's part of y (or
// reads what a neighbour writes) is a bug that ascending order would hide
// whenever the neighbour runs later and overwrites it. Block b runs at
// position (b * s) % blocks, s coprime to blocks and near blocks / phi, so
// blocks b and b + 1 run about 0.62 * blocks positions apart, the later one
// first wherever that wraps (for every grid of 3 to 20000 blocks, between 1/8
// and 7/8 of the neighbour pairs). The i-th block run is therefore
// (i * step) % blocks with step = s^-1 mod blocks, which this returns.
// Deterministic (a failure reproduces); XSEP_EMU_BLOCK_ORDER=ascending runs
// 0, 1, 2, ... (Neighbours along y, b and b + grid.x, get no such promise.)
uint64_t block_step(uint64_t blocks) {
  static const bool ascending = [] {
    const char* v = std::getenv("XSEP_EMU_BLOCK_ORDER");
    if (v == nullptr || *v == '\0' || std::strcmp(v, "scattered") == 0) return false;
    if (std::strcmp(v, "ascending") == 0) return true;
    std::fprintf(stderr, "emulated device: XSEP_EMU_BLOCK_ORDER must be 'scattered' or 'ascending', not '%s'\n", v);
    std::abort();
  }();
  if (ascending || blocks <= 2) return 1;
  uint64_t s = std::max<uint64_t>(2, static_cast<uint64_t>(static_cast<double>(blocks) * 0.6180339887498949));
  while (std::gcd(s, blocks) != 1) ++s;  // ends at blocks - 1 at the latest
  // s^-1 mod blocks by the extended Euclidean algorithm (blocks < 2^63).
  __int128 r0 = static_cast<__int128>(blocks), r1 = s, t0 = 0, t1 = 1;
  while (r1 != 0) {
    const __int128 q = r0 / r1, r2 = r0 - q * r1, t2 = t0 - q * t1;
    r0 = r1, r1 = r2, t0 = t1, t1 = t2;
  }
  return static_cast<uint64_t>(t0 < 0 ? t0 + static_cast<__int128>(blocks) : t0);
}

// The live device allocations (cudaMalloc's), which belong to the context as
// on a GPU: cudaDeviceReset frees them, and cudaFree refuses a pointer that is
// not one of them (freed already, reset away, or never allocated).
std::mutex& g_alloc_mutex = *new std::mutex;             // never destroyed, like the set
std::set<void*>& allocations = *new std::set<void*>;     // (frees at exit are legal)

cudaError_t run_launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  if (t_current != nullptr) {
    // Both engines set t_current while a kernel runs. A nested launch would
    // reuse the running fibers' stacks; CUDA needs dynamic parallelism for it.
    std::fprintf(stderr, "emulated device: a launch from inside a kernel (dynamic parallelism is not emulated)\n");
    std::abort();
  }
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  // The limits of the card (device_profile()): 1024 threads, at most 64 of them
  // along z (x and y may take all 1024); its dynamic shared memory per block
  // (227 KB on an H100); grid x below 2^31, y and z below 65536.
  if (threads == 0 || threads > 1024 || block.z > 64 || blocks == 0) return cudaErrorInvalidValue;
  if (smem_bytes > device_profile().smem_per_block_optin || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535)
    return cudaErrorInvalidValue;

  const size_t bytes = smem_bytes == 0 ? 16 : smem_bytes;
  std::unique_ptr<unsigned char[], AlignedFree> smem;
  std::vector<ThreadState> states;
  try {
    smem.reset(static_cast<unsigned char*>(::operator new[](bytes, std::align_val_t(64))));
    states.resize(threads);
  } catch (const std::bad_alloc&) {
    return cudaErrorMemoryAllocation;
  }
  poison(smem.get(), bytes);
  // What stays the same for every block: thread t's coordinates (x fastest),
  // the dimensions, the shared memory.
  for (uint32_t t = 0; t < threads; ++t) {
    ThreadState& s = states[t];
    s.thread_idx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    s.block_dim = block;
    s.grid_dim = grid;
    s.smem = smem.get();
  }

  detail::Launch l{grid,  block, blocks, static_cast<uint32_t>(threads), smem.get(), bytes, &body, &states,
                   block_step(blocks)};
  return engine() == Engine::kFibers ? detail::run_with_fibers(l) : detail::run_with_threads(l);
}

}  // namespace

// The CUDA programming guide's table of compute capabilities: shared memory
// per SM and per block (opt-in), and the 1 KB reserved per block since sm_80.
const DeviceProfile& device_profile() {
  static constexpr DeviceProfile kProfiles[] = {
      {"h100", 227 * 1024, 228 * 1024, 1024, 132},  // sm_90 (H100 SXM, H200)
      {"a100", 163 * 1024, 164 * 1024, 1024, 108},  // sm_80
      {"l4", 99 * 1024, 100 * 1024, 1024, 58},      // sm_89 (sm_86 has the same shared memory)
      {"t4", 64 * 1024, 64 * 1024, 0, 40},          // sm_75
      // Not a card: 8 KB of shared memory, so that large-K problems have no tile that
      // fits and the tests can see XSEP_STATUS_UNSUPPORTED (tests/test_bad_input.cpp).
      {"tiny", 8 * 1024, 8 * 1024, 0, 1},
  };
  static const DeviceProfile& chosen = [] () -> const DeviceProfile& {
    const char* v = std::getenv("XSEP_EMU_DEVICE");
    if (v == nullptr || *v == '\0') return kProfiles[0];
    for (const DeviceProfile& p : kProfiles)
      if (std::strcmp(v, p.name) == 0) return p;
    std::fprintf(stderr, "emulated device: XSEP_EMU_DEVICE=%s is not one of h100, a100, l4, t4, tiny\n", v);
    std::abort();
  }();
  return chosen;
}

// As the CUDA runtime does, a failed launch is also remembered for
// cudaGetLastError / cudaPeekAtLastError on this host thread.
cudaError_t launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const cudaError_t e = run_launch(grid, block, smem_bytes, body);
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

cudaError_t launch(const void* kernel, dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  if (smem_bytes > kSmemWithoutOptIn && smem_bytes > smem_opt_in(kernel)) {
    t_last_error = cudaErrorInvalidValue;
    return cudaErrorInvalidValue;
  }
  return launch(grid, block, smem_bytes, body);
}

}  // namespace xsep::emu

// ---- The CUDA runtime subset of the emulated device (declared by
// cuda_runtime_api.h, exported from the emulated libxsep.so) -----------------
extern "C" {

cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (p == nullptr) return cudaErrorInvalidValue;
  // Like the real allocator: 256-byte aligned, never NULL for 0 bytes. Unlike
  // it, exactly `bytes` long, so that AddressSanitizer's redzone starts at the
  // first byte past the buffer (a read past x's last row shows up, where the
  // real allocator's rounding would hide it), and filled with 0xFF bytes (NaN
  // in float32 and float16), so that reading memory no one wrote shows in the
  // output instead of passing as zero padding. Up to 1 GiB: larger buffers (a
  // test's address-space-only arena) are left untouched.
  void* q = nullptr;
  if (posix_memalign(&q, 256, bytes != 0 ? bytes : 1) != 0) return cudaErrorMemoryAllocation;
  if (bytes <= (size_t{1} << 30)) std::memset(q, 0xFF, bytes);
  {
    std::lock_guard<std::mutex> lock(xsep::emu::g_alloc_mutex);
    xsep::emu::allocations.insert(q);
  }
  *p = q;
  return cudaSuccess;
}

// NULL is a no-op, as on a GPU; a pointer that is not a live allocation (freed
// twice, freed by a cudaDeviceReset, or host memory) is cudaErrorInvalidValue.
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  {
    std::lock_guard<std::mutex> lock(xsep::emu::g_alloc_mutex);
    if (xsep::emu::allocations.erase(p) == 0) {
      xsep::emu::t_last_error = cudaErrorInvalidValue;
      return cudaErrorInvalidValue;
    }
  }
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

// The one function attribute the library sets: a kernel's opt-in to more than
// 48 KB of dynamic shared memory, up to the card's limit.
cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (func == nullptr || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > xsep::emu::device_profile().smem_per_block_optin) {
    xsep::emu::t_last_error = cudaErrorInvalidValue;  // remembered, as the runtime does
    return cudaErrorInvalidValue;
  }
  std::lock_guard<std::mutex> lock(xsep::emu::g_opt_in_mutex);
  xsep::emu::opt_ins()[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

// A new context: the opt-ins are gone and every device allocation is freed,
// as on a GPU (a kernel that reads one afterwards is a heap-use-after-free
// under ASan; cudaFree of one is cudaErrorInvalidValue).
cudaError_t cudaDeviceReset(void) {
  {
    std::lock_guard<std::mutex> lock(xsep::emu::g_opt_in_mutex);
    xsep::emu::opt_ins().clear();
  }
  std::lock_guard<std::mutex> lock(xsep::emu::g_alloc_mutex);
  for (void* p : xsep::emu::allocations) std::free(p);
  xsep::emu::allocations.clear();
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return cudaErrorInvalidValue;
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return cudaErrorInvalidValue;
  *device = 0;
  return cudaSuccess;
}

// The attributes the launchers ask for (kernels/device_limits.cpp), from the
// emulated card's profile; any other is refused, so a new query cannot pass
// unnoticed with a made-up value.
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return cudaErrorInvalidValue;
  if (device != 0) return cudaErrorInvalidDevice;
  const xsep::emu::DeviceProfile& p = xsep::emu::device_profile();
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(p.smem_per_block_optin); return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = int(p.smem_per_sm); return cudaSuccess;
    case cudaDevAttrReservedSharedMemoryPerBlock: *value = int(p.smem_reserved_per_block); return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = p.sm_count; return cudaSuccess;
    default: return cudaErrorInvalidValue;
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error (emulated device)";
    case cudaErrorInvalidValue: return "invalid argument (emulated device)";
    case cudaErrorMemoryAllocation: return "out of memory (emulated device)";
    case cudaErrorInvalidDevice: return "invalid device ordinal (emulated device)";
    case cudaErrorLaunchFailure: return "launch failed (emulated device)";
    default: return "unknown error (emulated device)";
  }
}

}  // extern "C"
