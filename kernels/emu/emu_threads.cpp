// The threads engine of the emulated device: one host thread per CUDA thread,
// created once per launch and reused for all its blocks; __syncthreads is a
// std::barrier over them. Slower than fibers (every barrier wakes every
// thread), but it is real concurrency, so ThreadSanitizer sees the races
// between a block's threads that a missing __syncthreads leaves.
#include <barrier>
#include <cfenv>
#include <cstdlib>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "emu_engine.h"

namespace xsep::emu::detail {

namespace {

// What the barrier does once every thread of the block has arrived, before it
// releases them (on whichever thread arrived last). The threads say why they
// came: all for a __syncthreads (nothing to do), or all at the end of the
// block: the block's checks, then the next block's states. A mix means some
// threads ended while others wait at a __syncthreads, which on a GPU hangs or
// worse; here it aborts, naming a thread whose __syncthreads count differs.
struct PhaseEnd {
  Launch* l;
  std::vector<unsigned char>* at_end;  // per thread: arrived at the end of the block
  uint64_t* block;                     // the block the threads are running
  void operator()() noexcept {
    size_t ended = 0;
    for (unsigned char e : *at_end) ended += e;
    if (ended == 0) return;
    if (ended != at_end->size()) {
      check_syncthreads_counts(*l);
      std::abort();  // unreachable: the counts differ
    }
    end_block(*l);
    if (++*block < l->blocks) begin_block(*l, *block);
  }
};

using Barrier = std::barrier<PhaseEnd>;

void barrier_sync(ThreadState& s) { static_cast<Barrier*>(s.engine)->arrive_and_wait(); }

}  // namespace

cudaError_t run_with_threads(Launch& l) {
  std::vector<unsigned char> at_end;
  try {
    at_end.resize(l.threads);
  } catch (const std::bad_alloc&) {
    return cudaErrorMemoryAllocation;
  }
  uint64_t block = 0;
  Barrier barrier(static_cast<std::ptrdiff_t>(l.threads), PhaseEnd{&l, &at_end, &block});
  begin_block(l, 0);
  for (ThreadState& s : *l.states) {
    s.syncthreads = barrier_sync;
    s.engine = &barrier;
  }

  // Every CUDA thread starts every block with the launching thread's
  // floating-point environment (rounding mode, FTZ, exception masks), as the
  // fibers engine does; the launching thread gets its own back at the end.
  std::fenv_t host_env;
  std::fegetenv(&host_env);

  // One barrier phase per __syncthreads, and one at the end of every block.
  auto run = [&](uint32_t t) {
    t_current = &(*l.states)[t];
    for (uint64_t b = 0; b < l.blocks; ++b) {
      at_end[t] = 0;
      std::fesetenv(&host_env);
      (*l.body)();
      at_end[t] = 1;
      barrier.arrive_and_wait();
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
    pool.reserve(l.threads);
    for (uint32_t t = 1; t < l.threads; ++t) pool.emplace_back(worker, t);
  } catch (const std::exception&) {
    open_gate(kAbort);
    for (auto& th : pool) th.join();
    return cudaErrorLaunchFailure;
  }
  open_gate(kGo);
  run(0);  // the launching thread plays thread 0
  t_current = nullptr;  // no kernel runs (launch() refuses nested launches)
  std::fesetenv(&host_env);
  for (auto& th : pool) th.join();
  return cudaSuccess;
}

}  // namespace xsep::emu::detail
