// Inside the emulated device: what emu_runtime.cpp's launch() hands an engine
// (emu_threads.cpp, emu_fibers.cpp), and the per-block steps they share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "emu_runtime.h"

namespace xsep::emu::detail {

// One validated launch. Owned by launch(): the shared memory and one
// ThreadState per CUDA thread of a block (thread t = x + X (y + Y z), as on
// the GPU), whose coordinates, dimensions and shared memory launch() fills in
// once; begin_block() moves them to each block.
struct Launch {
  dim3 grid;
  dim3 block;
  uint64_t blocks;   // grid.x * grid.y * grid.z
  uint32_t threads;  // block.x * block.y * block.z, at most 1024
  unsigned char* smem;
  size_t smem_bytes;  // at least 16: a kernel may take the pointer without using it
  const std::function<void()>* body;
  std::vector<ThreadState>* states;
  // The order blocks run in: the i-th block run is (i * block_step) % blocks,
  // block_step coprime to blocks (see block_step() in emu_runtime.cpp).
  uint64_t block_step = 1;
};

// Puts every ThreadState at the start of the b-th block to run (its blockIdx,
// empty call records); each engine sets syncthreads and engine.
void begin_block(Launch& l, uint64_t b);

// After every thread of the block has finished it: aborts like a device trap
// when the threads made different numbers of __syncthreads calls, or the lanes
// of a warp different warp-collective calls; then poisons the shared memory
// for the next block.
void end_block(Launch& l);

// Aborts like a device trap, naming the block and a thread whose __syncthreads
// count differs from thread 0's, if there is one (the fiber engine calls it as
// soon as some threads have finished and others wait at a barrier).
void check_syncthreads_counts(const Launch& l);

// The engines. Each runs every block of the launch, calling end_block() after
// each, and returns cudaSuccess, or an error before any thread ran.
cudaError_t run_with_threads(Launch& l);
cudaError_t run_with_fibers(Launch& l);
bool fibers_built();  // x86-64, without ThreadSanitizer or CET shadow stacks

}  // namespace xsep::emu::detail
