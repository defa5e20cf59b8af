// The fibers engine of the emulated device: the launching host thread runs a
// block's CUDA threads as fibers (each on its own stack), one after another,
// each until its next __syncthreads or the end of the kernel. A round in which
// every thread reached a barrier is one __syncthreads; the next round resumes
// them all. A host thread keeps its fibers for all its launches: fiber t runs
// thread t of every block, looping over the kernel body. (Fibers made and
// ended per block cost little more, except under ASan's
// detect_stack_use_after_return, the default of newer runtimes, where each new
// fiber maps a fake stack: a 32x32 MobileNetV3-Small-XSep took 35 s that way
// and takes 5.4 s with kept fibers.) No OS thread is created or woken, which makes the emulator about
// nine times faster than the threads engine (measured under ASan on 2 cores:
// the cuda backend's MobileNetV3-Small-XSep forward pass at 224x224 in 2.4 s
// instead of 21 s, with the same output).
//
// Each round runs the threads in another order, a pseudo-random permutation
// drawn from the block and round numbers (so every run is the same): when a
// thread reads shared memory that another thread writes without a barrier
// between them, the reader comes first in about half of the rounds and reads
// the 0xFF poison (NaN) or a stale value, so the missing barrier fails a test
// instead of passing by the luck of a fixed order.
//
// The switch between stacks is a dozen instructions of x86-64 assembly (the
// callee-saved registers of the System V ABI, MXCSR and the x87 control word):
// swapcontext() would make a system call (sigprocmask) per switch, which costs
// as much as the threads it replaces. Under AddressSanitizer every switch is
// announced with __sanitizer_{start,finish}_switch_fiber. ThreadSanitizer has
// its own fiber API, but a build under it uses the threads engine instead:
// there the point is real concurrency. So does a build with CET shadow stacks
// (see XSEP_EMU_FIBERS below).
#include <sys/mman.h>
#include <unistd.h>

#include <cfenv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <new>
#include <utility>
#include <vector>

#include "emu_engine.h"

// Which sanitizer: GCC defines __SANITIZE_*__, Clang answers __has_feature.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XSEP_EMU_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define XSEP_EMU_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define XSEP_EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define XSEP_EMU_TSAN 1
#endif
#if defined(XSEP_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

// With CET shadow stacks (-fcf-protection=return or full, which marks this
// file's code shadow-stack compatible), the first switch into a fiber would
// return to an address the shadow stack never saw: such builds use threads.
#if defined(__x86_64__) && !defined(XSEP_EMU_TSAN) && !(defined(__CET__) && (__CET__ & 2))
#define XSEP_EMU_FIBERS 1
#endif

namespace xsep::emu::detail {

#if !defined(XSEP_EMU_FIBERS)

bool fibers_built() { return false; }
cudaError_t run_with_fibers(Launch&) { return cudaErrorLaunchFailure; }

#else

bool fibers_built() { return true; }

}  // namespace xsep::emu::detail

// xsep_emu_switch(save, to): saves the callee-saved state on the current stack,
// stores the stack pointer in *save, and continues on the stack `to` (a stack
// pointer an earlier switch saved, or one prepared by prepare_stack). Returns
// when something switches back to *save.
//
// xsep_emu_fiber_start: where a new fiber's first switch returns to (see
// prepare_stack): calls r13(r12), which never returns.
extern "C" void xsep_emu_switch(void** save, void* to);
extern "C" void xsep_emu_fiber_start();
asm(R"(
  .pushsection .text
  .globl xsep_emu_switch
  .hidden xsep_emu_switch
  .type xsep_emu_switch, @function
xsep_emu_switch:
  .cfi_startproc
  pushq %rbp
  .cfi_adjust_cfa_offset 8
  pushq %rbx
  .cfi_adjust_cfa_offset 8
  pushq %r12
  .cfi_adjust_cfa_offset 8
  pushq %r13
  .cfi_adjust_cfa_offset 8
  pushq %r14
  .cfi_adjust_cfa_offset 8
  pushq %r15
  .cfi_adjust_cfa_offset 8
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp  # the other stack has the same layout, so the CFA rule holds
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  .cfi_adjust_cfa_offset -8
  popq %r15
  .cfi_adjust_cfa_offset -8
  popq %r14
  .cfi_adjust_cfa_offset -8
  popq %r13
  .cfi_adjust_cfa_offset -8
  popq %r12
  .cfi_adjust_cfa_offset -8
  popq %rbx
  .cfi_adjust_cfa_offset -8
  popq %rbp
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size xsep_emu_switch, .-xsep_emu_switch

  .globl xsep_emu_fiber_start
  .hidden xsep_emu_fiber_start
  .type xsep_emu_fiber_start, @function
xsep_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size xsep_emu_fiber_start, .-xsep_emu_fiber_start
  .popsection
)");

namespace xsep::emu::detail {

namespace {

// Room for a kernel's frames under AddressSanitizer (whose redzones make them
// several times larger), reserved, not committed: only the pages a fiber
// touches use memory. Below each stack, one inaccessible guard page turns an
// overflow into a crash instead of a write into the neighbouring stack.
constexpr size_t kStackBytes = size_t{1} << 20;

// One CUDA thread's fiber. It lives as long as its host thread and runs the
// kernel body once per block it is given (see fiber_main), so neither its
// stack nor AddressSanitizer's fake stack for it is made more than once.
class FiberPool;
struct Fiber {
  void* sp = nullptr;  // while suspended: the saved stack pointer
  const void* bottom = nullptr;
  FiberPool* pool = nullptr;  // its host thread's (t_pool; kept here to spare a TLS lookup per barrier)
  bool started = false;       // fiber_main has run
  bool done = false;          // the kernel body returned (for the current block)
};

// The fibers of one host thread, made on first use and kept for its later
// launches (a graph runs hundreds), and what they need from the launch.
class FiberPool {
 public:
  FiberPool() = default;
  FiberPool(const FiberPool&) = delete;
  FiberPool& operator=(const FiberPool&) = delete;
  ~FiberPool();

  // Grows the pool to at least n fibers; false when the memory is not there.
  bool reserve(size_t n);
  Fiber& fiber(size_t i) { return fibers_[i]; }

  // Runs fiber f until it reaches a barrier or the end of the body.
  void resume(Fiber& f);
  // From inside fiber f: back to the scheduler (resume's caller).
  void suspend(Fiber& f);
  // While a fiber runs: the scheduler's saved stack pointer.
  void* host_sp() const { return host_sp_; }

  const std::function<void()>* body = nullptr;  // the running launch's kernel
  // The launching thread's floating-point environment (rounding mode, FTZ,
  // exception masks): every CUDA thread starts every block with it.
  std::fenv_t host_env{};
  // The host thread's stack, which AddressSanitizer needs named when a fiber
  // switches back to it; learnt from each switch into a fiber.
  const void* host_bottom = nullptr;
  size_t host_bytes = 0;
  bool retiring = false;  // ~FiberPool: a resumed fiber ends instead of running the body

 private:
  std::deque<Fiber> fibers_;  // a deque: a Fiber's address is on its stack
  std::vector<void*> maps_;   // each stack's mapping, guard page first
  size_t guard_ = 0;
  void* host_sp_ = nullptr;   // while a fiber runs: the scheduler's stack pointer
};

thread_local FiberPool t_pool;
// Set by ~FiberPool (a bool: no destructor of its own): a launch later in
// this thread's exit (a thread_local destructor, an atexit handler) finds
// the pool gone and runs on the threads engine.
thread_local bool t_pool_gone = false;

// AddressSanitizer keeps one stack (and fake stack) per fiber: each switch is
// announced before it (start) and completed after it (finish).
inline void asan_start([[maybe_unused]] void** fake_stack_save, [[maybe_unused]] const void* bottom,
                       [[maybe_unused]] size_t bytes) {
#if defined(XSEP_EMU_ASAN)
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, bytes);
#endif
}
inline void asan_finish([[maybe_unused]] void* fake_stack_save, [[maybe_unused]] const void** bottom_old,
                        [[maybe_unused]] size_t* bytes_old) {
#if defined(XSEP_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, bytes_old);
#endif
}

// A fiber's life: the kernel body, once for every block it is given, each
// time from the launching thread's floating-point environment (a rounding
// mode one CUDA thread sets must not reach the next block's thread); after
// each, back to the scheduler. It ends only when its host thread exits
// (~FiberPool), so that AddressSanitizer frees its fake stack.
[[noreturn]] void fiber_main(void* arg) {
  Fiber& f = *static_cast<Fiber*>(arg);
  FiberPool& pool = *f.pool;  // a fiber never leaves the host thread that made it
  f.started = true;
  asan_finish(nullptr, &pool.host_bottom, &pool.host_bytes);
  for (;;) {
    std::fesetenv(&pool.host_env);
    (*pool.body)();
    f.done = true;
    pool.suspend(f);
    if (pool.retiring) break;
  }
  asan_start(nullptr, pool.host_bottom, pool.host_bytes);  // nullptr: this fiber ends
  xsep_emu_switch(&f.sp, pool.host_sp());
  std::abort();  // never resumed
}

// A new fiber's stack, laid out as xsep_emu_switch leaves a suspended one
// (from the top: return address, rbp, rbx, r12, r13, r14, r15, MXCSR and x87
// control word), so that the first switch to it "returns" into
// xsep_emu_fiber_start with r12 = fiber and r13 = fiber_main. The top is
// 16-byte aligned and the return address sits just below it, so rsp is
// 16-byte aligned when xsep_emu_fiber_start makes its call, as the ABI asks.
void* prepare_stack(const void* bottom, Fiber* fiber) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(bottom) + kStackBytes) & ~uintptr_t{15};
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  uint32_t mxcsr;
  uint16_t x87_cw;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87_cw));
  void (*entry)(void*) = fiber_main;
  *--sp = reinterpret_cast<uint64_t>(&xsep_emu_fiber_start);
  *--sp = 0;                                         // rbp: ends frame-pointer backtraces
  *--sp = 0;                                         // rbx
  *--sp = reinterpret_cast<uint64_t>(fiber);         // r12
  *--sp = reinterpret_cast<uint64_t>(entry);         // r13
  *--sp = 0;                                         // r14
  *--sp = 0;                                         // r15
  *--sp = uint64_t{mxcsr} | uint64_t{x87_cw} << 32;  // as stmxcsr / fnstcw store them
  return sp;
}

FiberPool::~FiberPool() {
  t_pool_gone = true;
#if defined(XSEP_EMU_ASAN)
  // Each started fiber waits in fiber_main's loop: resumed once more, it ends
  // with the annotation that frees its fake stack (detect_stack_use_after_return).
  retiring = true;
  for (Fiber& f : fibers_)
    if (f.started) resume(f);
#endif
  for (void* m : maps_) {
#if defined(XSEP_EMU_ASAN)
    // Frames left on a fiber's stack (fiber_main's, with the redzones of the
    // inlined suspend) stay poisoned in the shadow memory, which would show as
    // false errors once the range is mapped again.
    __asan_unpoison_memory_region(static_cast<unsigned char*>(m) + guard_, kStackBytes);
#endif
    munmap(m, guard_ + kStackBytes);
  }
}

bool FiberPool::reserve(size_t n) {
  if (guard_ == 0) guard_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  try {
    maps_.reserve(n);
    while (maps_.size() < n) {
      void* m = mmap(nullptr, guard_ + kStackBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (m == MAP_FAILED) return false;
      if (mprotect(m, guard_, PROT_NONE) != 0) {
        munmap(m, guard_ + kStackBytes);
        return false;
      }
      try {
        fibers_.emplace_back();
      } catch (const std::bad_alloc&) {
        munmap(m, guard_ + kStackBytes);
        return false;
      }
      maps_.push_back(m);  // reserved above: does not throw, so maps_ and fibers_ stay in step
      Fiber& f = fibers_.back();
      f.pool = this;
      f.bottom = static_cast<unsigned char*>(m) + guard_;
      f.sp = prepare_stack(f.bottom, &f);
    }
  } catch (const std::bad_alloc&) {  // maps_.reserve
    return false;
  }
  return true;
}

void FiberPool::resume(Fiber& f) {
  void* fake_stack = nullptr;
  asan_start(&fake_stack, f.bottom, kStackBytes);
  xsep_emu_switch(&host_sp_, f.sp);
  asan_finish(fake_stack, nullptr, nullptr);
}

void FiberPool::suspend(Fiber& f) {
  void* fake_stack = nullptr;
  asan_start(&fake_stack, host_bottom, host_bytes);
  xsep_emu_switch(&f.sp, host_sp_);
  asan_finish(fake_stack, &host_bottom, &host_bytes);
}

// __syncthreads in a fiber: back to the scheduler, which resumes this fiber
// once every thread of the block has arrived.
void fiber_sync(ThreadState& t) {
  Fiber& f = *static_cast<Fiber*>(t.engine);
  f.pool->suspend(f);
}

// Puts 0 .. order.size()-1 into `order` in the round's order: Fisher-Yates
// driven by splitmix64, seeded from the block's position in the launch's run
// order and the round (both mixed, so consecutive blocks and rounds get
// unrelated streams).
void shuffle(std::vector<uint32_t>& order, uint64_t block, uint64_t round) {
  uint64_t x = mix64(block + 0x9E3779B97F4A7C15ull) ^ mix64(~round);
  auto next = [&x] { return mix64(x += 0x9E3779B97F4A7C15ull); };
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[next() % (i + 1)]);
}

}  // namespace

cudaError_t run_with_fibers(Launch& l) {
  std::vector<uint32_t> order;  // the threads in the order of the current round
  std::vector<Fiber*> fibers;   // thread t's fiber
  try {
    order.resize(l.threads);
    fibers.resize(l.threads);
  } catch (const std::bad_alloc&) {
    return cudaErrorMemoryAllocation;
  }
  if (t_pool_gone) return run_with_threads(l);
  FiberPool* pool_ptr = nullptr;
  try {
    pool_ptr = &t_pool;  // made on first use: its deque allocates
  } catch (const std::bad_alloc&) {
    return cudaErrorMemoryAllocation;
  }
  FiberPool& pool = *pool_ptr;
  if (!pool.reserve(l.threads)) return cudaErrorMemoryAllocation;

  pool.body = l.body;
  std::fegetenv(&pool.host_env);
  std::vector<ThreadState>& states = *l.states;
  for (uint32_t t = 0; t < l.threads; ++t) {
    fibers[t] = &pool.fiber(t);
    states[t].syncthreads = fiber_sync;
    states[t].engine = fibers[t];
  }
  for (uint64_t b = 0; b < l.blocks; ++b) {
    begin_block(l, b);
    for (Fiber* f : fibers) f->done = false;
    // One round per __syncthreads, and one from the last to the end.
    for (uint64_t round = 0;; ++round) {
      shuffle(order, b, round);
      uint32_t finished = 0;
      for (uint32_t t : order) {
        t_current = &states[t];
        pool.resume(*fibers[t]);
        finished += fibers[t]->done ? 1 : 0;
      }
      if (finished == l.threads) break;
      if (finished != 0) {
        // Some threads ended while the others wait at a __syncthreads: on a
        // GPU, a hang or worse. The counts differ; this names a thread.
        check_syncthreads_counts(l);
        std::abort();
      }
    }
    t_current = nullptr;  // no kernel runs (launch() refuses nested launches)
    end_block(l);
  }
  pool.body = nullptr;
  return cudaSuccess;
}

#endif  // XSEP_EMU_FIBERS

}  // namespace xsep::emu::detail
