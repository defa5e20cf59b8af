// The emulated device itself (kernels/emu/, XSEP_DEVICE=emu builds only): the
// kernels' tests trust it to run a launch as CUDA would and to trap what the
// GPU would not tolerate, so it gets tests of its own.
//   EmuLaunch   (each engine: threads, fibers) coordinates, blocks once each
//               in a scattered order, the opt-in above 48 KB of shared
//               memory (and cudaDeviceReset forgetting it), __syncthreads,
//               shared memory poisoned before every block, invalid launch
//               configurations; with fibers, a missing barrier reads poison
//               (in a shuffled order that changes every round); rounding
//               modes per thread, locals across barriers, 1024 threads,
//               launches from two host threads at once
//   EmuLaunchDeathTest  (each engine) __syncthreads that not every thread of
//               the block reaches aborts like a device trap, naming a thread;
//               so does a launch from inside a kernel
//   EmuEngine   use_engine, and XSEP_EMU_ENGINE: the choice, and a value it
//               cannot honour; XSEP_EMU_BLOCK_ORDER
//   EmuMemory   cudaMalloc: aligned, every byte 0xFF (NaN)
//   EmuDeviceDeathTest  XSEP_EMU_DEVICE: each card's limits reported by
//               cudaDeviceGetAttribute and enforced by launch; an unknown card
//   EmuWmma     the 16x16x16 fragments against a naive product, in every
//               load and store layout, each output element written
//   EmuWmmaDeathTest  the API's preconditions abort like a device trap:
//               misaligned pointer, ldm, partial warps, and lanes of one
//               warp making different *_sync calls (a lane-dependent branch
//               or pointer), which a GPU leaves undefined
// The test kernels are written here, as the library's are: plain functions of
// threadIdx / blockIdx launched through xsep::emu::launch.
#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <thread>
#include <random>
#include <vector>

#include "emu/emu_runtime.h"
#include "emu/emu_wmma.h"

namespace {

using xsep::emu::Engine;
using xsep::emu::launch;
namespace wmma = nvcuda::wmma;

unsigned linear_thread() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
unsigned linear_block() { return blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z); }
float* smem() { return reinterpret_cast<float*>(xsep::emu::current().smem); }

// The EmuLaunch tests run on each engine (use_engine); a build without the
// fibers engine (ThreadSanitizer, or not x86-64) skips those cases.
class EmuLaunch : public testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    if (!xsep::emu::use_engine(GetParam()))
      GTEST_SKIP() << "this build has no fibers engine (it needs x86-64, no ThreadSanitizer, no CET shadow stacks)";
  }
  void TearDown() override { xsep::emu::use_engine(before_); }

 private:
  Engine before_ = xsep::emu::engine();
};

std::string engine_name(const testing::TestParamInfo<Engine>& info) {
  return info.param == Engine::kFibers ? "fibers" : "threads";
}

TEST_P(EmuLaunch, EveryThreadRunsOnceWithItsCoordinates) {
  const dim3 grid(3, 2, 2), block(8, 4, 2);
  const unsigned threads = 64, blocks = 12;
  std::vector<int> runs(threads * blocks, 0);
  std::vector<uint32_t> coords(threads * blocks, 0);
  ASSERT_EQ(launch(grid, block, 0, [&] {
              const unsigned g = linear_block() * threads + linear_thread();
              ++runs[g];
              coords[g] = threadIdx.x | threadIdx.y << 4 | threadIdx.z << 8 | blockIdx.x << 12 | blockIdx.y << 16 |
                          blockIdx.z << 20 | (blockDim.x * blockDim.y * blockDim.z) << 24;
            }),
            cudaSuccess);
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t) {
      const unsigned g = b * threads + t;
      ASSERT_EQ(runs[g], 1) << "block " << b << " thread " << t;
      const uint32_t want = t % 8 | (t / 8 % 4) << 4 | (t / 32) << 8 | (b % 3) << 12 | (b / 3 % 2) << 16 |
                            (b / 6) << 20 | 64u << 24;
      ASSERT_EQ(coords[g], want) << "block " << b << " thread " << t;
    }
}

// Blocks run one after another, but not in ascending order: each block once,
// and neighbours in both orders across the grid, so a block writing into its
// neighbour's part of the output cannot hide behind the neighbour running
// later (on a GPU they run in any order, and at once).
TEST_P(EmuLaunch, BlocksRunOnceEachInAScatteredOrder) {
  // Small, prime, power-of-two and composite counts (40 and 56 were nearly
  // ascending and nearly descending with a plain stride), and a 3-D grid.
  for (const dim3 grid : {dim3(3), dim3(4), dim3(40), dim3(56), dim3(64), dim3(97), dim3(37, 3, 2), dim3(1000)}) {
    const unsigned blocks = grid.x * grid.y * grid.z;
    SCOPED_TRACE(std::to_string(blocks) + " blocks");
    std::vector<unsigned> order;
    ASSERT_EQ(launch(grid, dim3(32), 0, [&] {
                if (linear_thread() == 0) order.push_back(linear_block());
              }),
              cudaSuccess);
    ASSERT_EQ(order.size(), blocks);
    std::vector<unsigned> position(blocks, blocks);
    for (unsigned i = 0; i < blocks; ++i) {
      ASSERT_LT(order[i], blocks);
      ASSERT_EQ(position[order[i]], blocks) << "block " << order[i] << " ran twice";
      position[order[i]] = i;
    }
    unsigned later = 0;  // neighbours b, b + 1 where b + 1 runs first
    for (unsigned b = 0; b + 1 < blocks; ++b) later += position[b + 1] < position[b];
    EXPECT_GT(later, blocks / 8) << "mostly ascending";
    EXPECT_LT(later, blocks - 1 - blocks / 8) << "mostly descending";
  }
}

// A kernel's launch with more than 48 KB of dynamic shared memory needs its
// opt-in (cudaFuncSetAttribute), up to the card's limit, as on a GPU; a
// cudaDeviceReset (a new context) forgets it.
void opt_in_kernel() {}
TEST_P(EmuLaunch, SharedMemoryAbove48KBNeedsTheKernelsOptIn) {
  const void* k = reinterpret_cast<const void*>(&opt_in_kernel);
  const size_t big = 100 * 1024;
  int runs = 0;
  auto body = [&] {
    if (threadIdx.x == 0) ++runs;
  };
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  EXPECT_EQ(launch(k, dim3(1), dim3(32), 48 * 1024, body), cudaSuccess) << "48 KB needs no opt-in";
  EXPECT_EQ(launch(k, dim3(1), dim3(32), big, body), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 232448 + 1), cudaErrorInvalidValue)
      << "beyond the card's 227 KB";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "a refused attribute is remembered";
  ASSERT_EQ(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(big)), cudaSuccess);
  EXPECT_EQ(launch(k, dim3(1), dim3(32), big, body), cudaSuccess);
  EXPECT_EQ(launch(k, dim3(1), dim3(32), big + 4, body), cudaErrorInvalidValue) << "above the opt-in";
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  EXPECT_EQ(launch(k, dim3(1), dim3(32), big, body), cudaErrorInvalidValue) << "the reset forgets the opt-in";
  EXPECT_EQ(runs, 2);
  cudaGetLastError();
}

// Device memory as the emulated cudaMalloc hands it out: 256-byte aligned and
// filled with 0xFF bytes (NaN in float32 and float16), so that a kernel
// reading memory no one wrote sees NaN, not zeros that pass for padding.
TEST(EmuMemory, AllocationsAreAlignedAndReadAsNaN) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{6}, size_t{1000}, size_t{5000}}) {
    void* p = nullptr;
    ASSERT_EQ(cudaMalloc(&p, bytes), cudaSuccess);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 256, 0u) << bytes;
    const auto* u = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(u[i], 0xFF) << "byte " << i << " of " << bytes;
    EXPECT_EQ(cudaFree(p), cudaSuccess);
  }
}

// Allocations belong to the context, as on a GPU: cudaFree takes each live
// one once (NULL is a no-op), refuses anything else, and cudaDeviceReset frees
// them all (using one afterwards is a heap-use-after-free under ASan).
TEST(EmuMemory, FreeTakesLiveAllocationsAndResetFreesThem) {
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 64), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue) << "freed twice";
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "remembered, as the runtime does";
  int host = 0;
  EXPECT_EQ(cudaFree(&host), cudaErrorInvalidValue) << "host memory";
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  void* q = nullptr;
  ASSERT_EQ(cudaMalloc(&q, 64), cudaSuccess);
  ASSERT_EQ(cudaDeviceReset(), cudaSuccess);
  EXPECT_EQ(cudaFree(q), cudaErrorInvalidValue) << "the reset freed it";
  cudaGetLastError();
}

// Thread t writes slot t, then after the barrier reads its neighbour's slot:
// without a working barrier some reads would see the poison (NaN) or the
// previous block's values.
TEST_P(EmuLaunch, SyncthreadsOrdersSharedMemory) {
  const unsigned threads = 256, blocks = 5;
  std::vector<float> out(threads * blocks, 0.f);
  ASSERT_EQ(launch(dim3(blocks), dim3(threads), threads * sizeof(float), [&] {
              const unsigned t = threadIdx.x, b = blockIdx.x;
              smem()[t] = static_cast<float>(b * 1000 + t);
              __syncthreads();
              out[b * threads + t] = smem()[(t + 1) % threads];
            }),
            cudaSuccess);
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t)
      ASSERT_EQ(out[b * threads + t], static_cast<float>(b * 1000 + (t + 1) % threads)) << b << " " << t;
}

// Every block starts on shared memory filled with 0xFF bytes (a float NaN),
// whatever the previous block left there.
TEST_P(EmuLaunch, SharedMemoryIsPoisonedBeforeEveryBlock) {
  const unsigned threads = 64, blocks = 4;
  std::vector<uint32_t> seen(threads * blocks, 0);
  ASSERT_EQ(launch(dim3(blocks), dim3(threads), threads * sizeof(float), [&] {
              const unsigned t = threadIdx.x;
              std::memcpy(&seen[blockIdx.x * threads + t], &smem()[t], sizeof(uint32_t));
              __syncthreads();
              smem()[t] = 1.f;
            }),
            cudaSuccess);
  for (unsigned i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 0xFFFFFFFFu) << "element " << i;
}

// The sm_90 limits (the default card, an H100): a launch beyond them fails
// before any thread runs, and is remembered as the last error, as the CUDA
// runtime does.
TEST_P(EmuLaunch, InvalidConfigurationsFailWithoutRunning) {
  struct Bad {
    dim3 grid, block;
    size_t smem;
    const char* what;
  };
  const Bad bad[] = {{dim3(1), dim3(0), 0, "no threads"},
                     {dim3(1), dim3(1025), 0, "1025 threads"},
                     {dim3(1), dim3(32, 32, 2), 0, "2048 threads"},
                     {dim3(1), dim3(1, 1, 65), 0, "65 threads along z"},
                     {dim3(0), dim3(32), 0, "no blocks"},
                     {dim3(0x80000000u), dim3(32), 0, "grid.x 2^31"},
                     {dim3(1, 65536), dim3(32), 0, "grid.y 65536"},
                     {dim3(1, 1, 65536), dim3(32), 0, "grid.z 65536"},
                     {dim3(1), dim3(32), 232449, "232449 bytes of shared memory"}};
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.what);
    bool ran = false;
    EXPECT_EQ(launch(b.grid, b.block, b.smem, [&] { ran = true; }), cudaErrorInvalidValue);
    EXPECT_FALSE(ran);
    EXPECT_EQ(xsep::emu::peek_last_error(), cudaErrorInvalidValue);
    EXPECT_EQ(xsep::emu::take_last_error(), cudaErrorInvalidValue);
    EXPECT_EQ(xsep::emu::take_last_error(), cudaSuccess);
  }
  EXPECT_EQ(launch(dim3(1), dim3(32), 232448, [] {}), cudaSuccess) << "227 KB is the sm_90 maximum";
  EXPECT_EQ(launch(dim3(1), dim3(1, 1, 64), 0, [] {}), cudaSuccess) << "64 threads along z are allowed";
  EXPECT_EQ(launch(dim3(1), dim3(1, 1024), 0, [] {}), cudaSuccess) << "1024 threads along y are allowed";
}

// Every thread writes its slot and, with no barrier in between, reads both
// neighbours' slots. On a GPU that is a race; the fibers engine runs the
// threads of a round in a shuffled order, so about half of the reads come
// before the neighbour's write and see the poison (NaN), in both directions.
// (Threads 0 and 255, whose neighbours wrap around, are left out: in any
// one-at-a-time order the first thread sees poison and the last does not.)
TEST_P(EmuLaunch, WithFibersAMissingBarrierReadsPoison) {
  if (GetParam() != Engine::kFibers) GTEST_SKIP() << "threads: the outcome of a race is left to the OS scheduler";
  const unsigned threads = 256;
  std::vector<float> left(threads), right(threads);
  ASSERT_EQ(launch(dim3(1), dim3(threads), threads * sizeof(float), [&] {
              const unsigned t = threadIdx.x;
              smem()[t] = static_cast<float>(t);
              left[t] = smem()[(t + threads - 1) % threads];  // a missing __syncthreads before these
              right[t] = smem()[(t + 1) % threads];
            }),
            cudaSuccess);
  unsigned nan_left = 0, nan_right = 0;
  for (unsigned t = 1; t + 1 < threads; ++t) {
    nan_left += std::isnan(left[t]) ? 1 : 0;
    nan_right += std::isnan(right[t]) ? 1 : 0;
  }
  // In order or reversed, one count would be 0 and the other 254.
  EXPECT_GE(nan_left, threads / 4);
  EXPECT_LE(nan_left, 3 * threads / 4);
  EXPECT_GE(nan_right, threads / 4);
  EXPECT_LE(nan_right, 3 * threads / 4);
}

// The fibers engine's order changes from round (barrier) to round and from
// block to block: each thread notes when it ran in each round.
TEST_P(EmuLaunch, WithFibersTheOrderChangesEveryRound) {
  if (GetParam() != Engine::kFibers) GTEST_SKIP() << "threads: the OS schedules them";
  const unsigned threads = 64, blocks = 2, rounds = 4;
  std::vector<unsigned> when(blocks * rounds * threads);
  unsigned clock = 0;  // one host thread runs every fiber: no race
  ASSERT_EQ(launch(dim3(blocks), dim3(threads), 0, [&] {
              for (unsigned r = 0; r < rounds; ++r) {
                when[(blockIdx.x * rounds + r) * threads + threadIdx.x] = clock++;
                if (r + 1 < rounds) __syncthreads();
              }
            }),
            cudaSuccess);
  // The order of round (b, r): thread indices sorted by their time.
  auto order = [&](unsigned b, unsigned r) {
    std::vector<unsigned> o(threads);
    for (unsigned t = 0; t < threads; ++t) o[when[(b * rounds + r) * threads + t] % threads] = t;
    return o;
  };
  std::vector<std::vector<unsigned>> seen;
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned r = 0; r < rounds; ++r) {
      const std::vector<unsigned> o = order(b, r);
      for (const auto& earlier : seen) EXPECT_NE(o, earlier) << "block " << b << " round " << r;
      seen.push_back(o);
    }
}

// Each CUDA thread has its own floating-point environment, as each host
// thread has, and starts every block with the launching thread's: a rounding
// mode one thread sets reaches neither the other threads, nor the same thread
// in the next block or launch, nor the launching thread (which plays thread 0
// on the threads engine). fegetround() reads the x87 control word, a float
// division rounds by the SSE MXCSR: both must follow the thread.
float one_third() {
  volatile float one = 1.f, three = 3.f;
  return one / three;
}
TEST_P(EmuLaunch, EachThreadHasItsOwnRoundingMode) {
  const unsigned threads = 64, blocks = 3;
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  const float nearest = one_third();
  std::fesetround(FE_DOWNWARD);
  const float downward = one_third();
  std::fesetround(FE_UPWARD);
  const float upward = one_third();
  std::fesetround(FE_TONEAREST);
  ASSERT_NE(nearest, downward);
  ASSERT_EQ(nearest, upward);  // 1/3 rounds up to nearest: FE_UPWARD shows in fegetround only

  // Launch 1: in blocks 0 and 2 (not 1), thread 0 rounds upward and thread 5
  // downward. Launch 2: nobody sets anything.
  for (int launch_no = 0; launch_no < 2; ++launch_no) {
    SCOPED_TRACE(launch_no == 0 ? "launch that sets modes" : "next launch");
    std::vector<int> mode(threads * blocks, -1);
    std::vector<float> third(threads * blocks, 0.f);
    ASSERT_EQ(launch(dim3(blocks), dim3(threads), 0, [&] {
                const bool sets = launch_no == 0 && blockIdx.x != 1;
                if (sets && threadIdx.x == 0) std::fesetround(FE_UPWARD);
                if (sets && threadIdx.x == 5) std::fesetround(FE_DOWNWARD);
                __syncthreads();
                const unsigned g = blockIdx.x * threads + threadIdx.x;
                mode[g] = std::fegetround();
                third[g] = one_third();
              }),
              cudaSuccess);
    EXPECT_EQ(std::fegetround(), FE_TONEAREST) << "the launching thread's mode changed";
    EXPECT_EQ(one_third(), nearest);
    for (unsigned g = 0; g < threads * blocks; ++g) {
      const unsigned b = g / threads, t = g % threads;
      const bool set_here = launch_no == 0 && b != 1 && (t == 0 || t == 5);
      const int want = !set_here ? FE_TONEAREST : t == 0 ? FE_UPWARD : FE_DOWNWARD;
      EXPECT_EQ(mode[g], want) << "block " << b << " thread " << t;
      EXPECT_EQ(third[g], set_here && t == 5 ? downward : nearest) << "block " << b << " thread " << t;
    }
  }
}

// Locals whose address escapes, alive across barriers, in block after block:
// fiber t runs thread t of every block on the same stack, which must stay
// usable (under ASan: no stale redzones, no false reports).
__attribute__((noinline)) void fill(volatile float* p, int n, float v) {
  for (int i = 0; i < n; ++i) p[i] = v + static_cast<float>(i);
}
TEST_P(EmuLaunch, LocalsLiveAcrossBarriersInEveryBlock) {
  const unsigned threads = 128, blocks = 6;
  std::vector<float> out(threads * blocks, 0.f);
  ASSERT_EQ(launch(dim3(blocks), dim3(threads), 0, [&] {
              volatile float local[24];
              fill(local, 24, static_cast<float>(threadIdx.x));
              __syncthreads();
              float sum = 0.f;
              for (int i = 0; i < 24; ++i) sum += local[i];
              __syncthreads();
              out[blockIdx.x * threads + threadIdx.x] = sum;
            }),
            cudaSuccess);
  for (unsigned i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], 24.f * (i % threads) + 276.f) << i;
}

// The largest block (1024 threads), and launches from two host threads at
// once: each has its own engine state; neither leaves a kernel's state behind.
TEST_P(EmuLaunch, LargestBlockAndConcurrentLaunches) {
  auto run = [](unsigned threads, unsigned blocks, std::vector<float>& out) {
    out.assign(threads * blocks, 0.f);
    const cudaError_t e = launch(dim3(blocks), dim3(threads), threads * sizeof(float), [&] {
      smem()[threadIdx.x] = static_cast<float>(blockIdx.x * threads + threadIdx.x);
      __syncthreads();
      out[blockIdx.x * threads + threadIdx.x] = smem()[threads - 1 - threadIdx.x];
    });
    return e == cudaSuccess && xsep::emu::t_current == nullptr;
  };
  auto check = [](unsigned threads, const std::vector<float>& out) {
    for (unsigned i = 0; i < out.size(); ++i)
      if (out[i] != static_cast<float>(i / threads * threads + threads - 1 - i % threads)) return false;
    return true;
  };
  const Engine engine = GetParam();
  std::vector<float> a, b;
  bool ok_b = false;
  std::thread other([&] {
    xsep::emu::use_engine(engine);  // the choice is process-wide; the same one
    ok_b = run(64, 40, b);
  });
  const bool ok_a = run(1024, 3, a);
  other.join();
  EXPECT_TRUE(ok_a && check(1024, a));
  EXPECT_TRUE(ok_b && check(64, b));
}

INSTANTIATE_TEST_SUITE_P(Engines, EmuLaunch, testing::Values(Engine::kThreads, Engine::kFibers), engine_name);

// __syncthreads that not every thread of the block reaches (here: the second
// warp returns early, or calls it once more): undefined on a GPU, where it
// hangs or silently mixes up barriers. Both engines abort at that barrier and
// name the first thread whose count differs from thread 0's.
class EmuLaunchDeathTest : public EmuLaunch {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EmuLaunch::SetUp();
  }
};

TEST_P(EmuLaunchDeathTest, SyncthreadsSkippedBySomeThreadsTraps) {
  EXPECT_DEATH(launch(dim3(2), dim3(64), 64 * sizeof(float), [] {
                 if (threadIdx.x >= 32) return;
                 __syncthreads();
               }),
               "block \\(0,0,0\\): thread 32 called __syncthreads 0 times and thread 0 1;");
}

TEST_P(EmuLaunchDeathTest, SyncthreadsCalledMoreOftenBySomeThreadsTraps) {
  EXPECT_DEATH(launch(dim3(1), dim3(64), 64 * sizeof(float), [] {
                 __syncthreads();
                 if (threadIdx.x >= 32) __syncthreads();
               }),
               "thread 32 called __syncthreads 2 times and thread 0 1;");
}

// A kernel that launches: dynamic parallelism, which the library does not use
// and the emulator does not model (a nested launch would reuse the running
// fibers' stacks).
TEST_P(EmuLaunchDeathTest, ALaunchFromAKernelAborts) {
  EXPECT_DEATH(launch(dim3(1), dim3(32), 0, [] { launch(dim3(1), dim3(32), 0, [] {}); }),
               "a launch from inside a kernel");
}

TEST_P(EmuLaunchDeathTest, UniformSyncthreadsRun) {
  EXPECT_EXIT(
      {
        const cudaError_t e = launch(dim3(3), dim3(64), 64 * sizeof(float), [] {
          for (unsigned i = 0; i < blockIdx.x; ++i) __syncthreads();  // a block-uniform count
        });
        std::exit(e == cudaSuccess ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(Engines, EmuLaunchDeathTest, testing::Values(Engine::kThreads, Engine::kFibers),
                         engine_name);

// XSEP_EMU_ENGINE picks the engine at the first launch of a process; these
// run in a fresh child each (the death tests' threadsafe style re-executes
// the test binary), where no launch has chosen one yet.
class EmuEngineDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(EmuEngineDeathTest, TheVariableChoosesTheEngine) {
  EXPECT_EXIT(
      {
        setenv("XSEP_EMU_ENGINE", "threads", 1);
        std::exit(xsep::emu::engine() == Engine::kThreads ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
  if (!xsep::emu::engine_available(Engine::kFibers)) return;
  EXPECT_EXIT(
      {
        setenv("XSEP_EMU_ENGINE", "fibers", 1);
        std::exit(xsep::emu::engine() == Engine::kFibers ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST_F(EmuEngineDeathTest, UnsetMeansFibersWhereBuilt) {
  const Engine want = xsep::emu::engine_available(Engine::kFibers) ? Engine::kFibers : Engine::kThreads;
  EXPECT_EXIT(
      {
        unsetenv("XSEP_EMU_ENGINE");
        std::exit(xsep::emu::engine() == want ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST_F(EmuEngineDeathTest, AnUnknownValueAborts) {
  EXPECT_DEATH(
      {
        setenv("XSEP_EMU_ENGINE", "gpu", 1);
        xsep::emu::engine();
      },
      "XSEP_EMU_ENGINE must be 'threads' or 'fibers', not 'gpu'");
}

TEST_F(EmuEngineDeathTest, FibersWithoutTheEngineAbort) {
  if (xsep::emu::engine_available(Engine::kFibers)) GTEST_SKIP() << "this build has the fibers engine";
  EXPECT_DEATH(
      {
        setenv("XSEP_EMU_ENGINE", "fibers", 1);
        xsep::emu::engine();
      },
      "this build has no fibers engine");
}

// XSEP_EMU_BLOCK_ORDER=ascending runs blocks 0, 1, 2, ... (to tell an order
// dependence from another failure); read at the first launch of a process.
TEST_F(EmuEngineDeathTest, BlockOrderAscendingOnRequest) {
  EXPECT_EXIT(
      {
        setenv("XSEP_EMU_BLOCK_ORDER", "ascending", 1);
        std::vector<unsigned> order;
        launch(dim3(50), dim3(32), 0, [&] {
          if (threadIdx.x == 0) order.push_back(blockIdx.x);
        });
        for (unsigned i = 0; i < order.size(); ++i)
          if (order[i] != i) std::exit(1);
        std::exit(order.size() == 50 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
  EXPECT_DEATH(
      {
        setenv("XSEP_EMU_BLOCK_ORDER", "random", 1);
        launch(dim3(4), dim3(32), 0, [] {});
      },
      "XSEP_EMU_BLOCK_ORDER must be 'scattered' or 'ascending', not 'random'");
}

// XSEP_EMU_DEVICE picks the card whose limits the emulated device reports and
// enforces, at the first query of a process: each case runs in a fresh child.
// The expected values are the CUDA programming guide's (shared memory per SM and
// per block by compute capability), written here apart from the emulator's table.
struct CardLimits {
  const char* name;
  int smem_per_block_optin, smem_per_sm, reserved, sms;
};
constexpr CardLimits kCards[] = {{"h100", 232448, 233472, 1024, 132},
                                 {"a100", 166912, 167936, 1024, 108},
                                 {"l4", 101376, 102400, 1024, 58},
                                 {"t4", 65536, 65536, 0, 40}};

class EmuDeviceDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// 0 when the emulated device reports `c` and launches exactly up to its limit.
int check_card(const CardLimits& c) {
  int v = 0;
  const std::pair<cudaDeviceAttr, int> want[] = {{cudaDevAttrMaxSharedMemoryPerBlockOptin, c.smem_per_block_optin},
                                                 {cudaDevAttrMaxSharedMemoryPerMultiprocessor, c.smem_per_sm},
                                                 {cudaDevAttrReservedSharedMemoryPerBlock, c.reserved},
                                                 {cudaDevAttrMultiProcessorCount, c.sms}};
  for (const auto& [attr, value] : want) {
    if (cudaDeviceGetAttribute(&v, attr, 0) != cudaSuccess || v != value) return 1;
  }
  if (cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, 0) != cudaErrorInvalidValue) return 2;  // not emulated
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 1) != cudaErrorInvalidDevice) return 3;
  if (launch(dim3(1), dim3(32), size_t(c.smem_per_block_optin), [] {}) != cudaSuccess) return 4;
  if (launch(dim3(1), dim3(32), size_t(c.smem_per_block_optin) + 1, [] {}) != cudaErrorInvalidValue) return 5;
  return 0;
}

TEST_F(EmuDeviceDeathTest, EachCardReportsAndEnforcesItsLimits) {
  for (const CardLimits& c : kCards) {
    SCOPED_TRACE(c.name);
    EXPECT_EXIT(
        {
          setenv("XSEP_EMU_DEVICE", c.name, 1);
          std::exit(check_card(c));
        },
        testing::ExitedWithCode(0), "");
  }
  EXPECT_EXIT(
      {
        unsetenv("XSEP_EMU_DEVICE");
        std::exit(check_card(kCards[0]));
      },
      testing::ExitedWithCode(0), "")
      << "unset means an H100";
}

TEST_F(EmuDeviceDeathTest, AnUnknownCardAborts) {
  EXPECT_DEATH(
      {
        setenv("XSEP_EMU_DEVICE", "v100", 1);
        int v = 0;
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0);
      },
      "XSEP_EMU_DEVICE=v100 is not one of h100, a100, l4, t4, tiny");
}

// Without a fibers engine (TSan builds run this in emulator_race), asking for
// one changes nothing.
TEST(EmuEngine, UseEngineRefusesWhatTheBuildLacks) {
  const Engine before = xsep::emu::engine();
  EXPECT_TRUE(xsep::emu::engine_available(Engine::kThreads));
  if (xsep::emu::engine_available(Engine::kFibers)) {
    EXPECT_TRUE(xsep::emu::use_engine(Engine::kFibers));
    EXPECT_EQ(xsep::emu::engine(), Engine::kFibers);
  } else {
    EXPECT_FALSE(xsep::emu::use_engine(Engine::kFibers));
    EXPECT_EQ(xsep::emu::engine(), before);
  }
  EXPECT_TRUE(xsep::emu::use_engine(Engine::kThreads));
  EXPECT_EQ(xsep::emu::engine(), Engine::kThreads);
  xsep::emu::use_engine(before);
}

// ---- Tensor-core fragments ---------------------------------------------------

// A 16x16 tile of T with leading dimension ldm, its first element 32-byte aligned.
template <typename T>
struct Tile {
  explicit Tile(unsigned ldm_) : ldm(ldm_), storage(16 * ldm + 32 / sizeof(T)) {}
  T* data() {
    auto p = reinterpret_cast<std::uintptr_t>(storage.data());
    return reinterpret_cast<T*>((p + 31) / 32 * 32);
  }
  unsigned ldm;
  std::vector<T> storage;
};
using HalfTile = Tile<__half>;
using FloatTile = Tile<float>;

// D = A B, two blocks of two warps (each warp computes the product into its
// own output tile), for a combination of A / B storage orders and D's store
// order, against a double-precision product of the same half-rounded values.
// D is poisoned first: an element no lane stores stays NaN.
template <typename LayoutA, typename LayoutB>
void check_product(wmma::layout_t store) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  const unsigned lda = 24, ldb = 40;  // not 16: row/column mix-ups show
  HalfTile a(lda), b(ldb);
  double ref_a[16][16], ref_b[16][16];
  constexpr bool a_row = std::is_same_v<LayoutA, wmma::row_major>, b_row = std::is_same_v<LayoutB, wmma::row_major>;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      const __half va = __float2half(dist(rng)), vb = __float2half(dist(rng));
      a.data()[a_row ? i * lda + j : j * lda + i] = va;
      b.data()[b_row ? i * ldb + j : j * ldb + i] = vb;
      ref_a[i][j] = __half2float(va), ref_b[i][j] = __half2float(vb);
    }
  const unsigned warps = 4, ldd = 24;
  std::vector<FloatTile> d(warps, FloatTile(ldd));
  for (auto& t : d) std::fill(t.storage.begin(), t.storage.end(), std::nanf(""));
  ASSERT_EQ(launch(dim3(2), dim3(64), 0, [&] {
              const unsigned warp = blockIdx.x * 2 + threadIdx.x / 32;
              wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, LayoutA> fa;
              wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, LayoutB> fb;
              wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
              wmma::fill_fragment(acc, 0.f);
              wmma::load_matrix_sync(fa, a.data(), lda);
              wmma::load_matrix_sync(fb, b.data(), ldb);
              wmma::mma_sync(acc, fa, fb, acc);
              wmma::store_matrix_sync(d[warp].data(), acc, ldd, store);
            }),
            cudaSuccess);
  for (unsigned w = 0; w < warps; ++w)
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) {
        double want = 0;
        for (int k = 0; k < 16; ++k) want += ref_a[i][k] * ref_b[k][j];
        const float got = d[w].data()[store == wmma::mem_row_major ? i * ldd + j : j * ldd + i];
        ASSERT_FALSE(std::isnan(got)) << "warp " << w << ": element (" << i << "," << j << ") not stored";
        ASSERT_NEAR(got, want, 1e-4 * (1 + std::fabs(want))) << "warp " << w << " (" << i << "," << j << ")";
      }
}

TEST(EmuWmma, ProductRowRowStoreRow) { check_product<wmma::row_major, wmma::row_major>(wmma::mem_row_major); }
TEST(EmuWmma, ProductRowColStoreRow) { check_product<wmma::row_major, wmma::col_major>(wmma::mem_row_major); }
TEST(EmuWmma, ProductColRowStoreCol) { check_product<wmma::col_major, wmma::row_major>(wmma::mem_col_major); }
TEST(EmuWmma, ProductColColStoreCol) { check_product<wmma::col_major, wmma::col_major>(wmma::mem_col_major); }

// Runs one block of `threads` threads in which the threads for which
// call(thread) holds load A from a_ptr(lane), then every thread loads B,
// multiplies and stores D: 4 warp-collective calls per lane when all call.
template <class Ptr, class Call>
void run_warp(unsigned threads, unsigned lda, Ptr a_ptr, Call call) {
  HalfTile a(64);
  FloatTile d(16);
  std::fill(a.storage.begin(), a.storage.end(), __float2half(1.f));
  const cudaError_t e = launch(dim3(1), dim3(threads), 0, [&] {
    const unsigned lane = linear_thread() % 32;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa{};  // {}: a lane may skip its load
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.f);
    if (call(linear_thread())) wmma::load_matrix_sync(fa, a_ptr(a.data(), lane), lda);
    wmma::load_matrix_sync(fb, a.data(), 64);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(d.data(), acc, 16, wmma::mem_row_major);
  });
  // The death tests' "runs" cases exit 0 only after a launch that ran: each
  // element of D is a 16-term sum of ones, or 0 where a warp skipped its A load.
  if (e != cudaSuccess) std::exit(2);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      if (d.data()[i * 16 + j] != 16.f && d.data()[i * 16 + j] != 0.f) std::exit(3);
}

auto same_ptr = [](__half* p, unsigned) { return p; };
auto all_lanes = [](unsigned) { return true; };  // every thread calls

class EmuWmmaDeathTest : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(EmuWmmaDeathTest, AWellFormedWarpRuns) {
  EXPECT_EXIT((run_warp(64, 64, same_ptr, all_lanes), std::exit(0)), testing::ExitedWithCode(0), "");
}

TEST_F(EmuWmmaDeathTest, MisalignedPointerTraps) {
  EXPECT_DEATH(run_warp(32, 64, [](__half* p, unsigned) { return p + 8; }, all_lanes), "not 256-bit aligned");
}

TEST_F(EmuWmmaDeathTest, LeadingDimensionNotSixteenBytesTraps) {
  EXPECT_DEATH(run_warp(32, 60, same_ptr, all_lanes), "ldm not a multiple of 16 bytes");
}

TEST_F(EmuWmmaDeathTest, PartialWarpTraps) {
  EXPECT_DEATH(run_warp(48, 64, same_ptr, all_lanes), "not a whole number of warps");
}

// A *_sync call under a lane-dependent branch: on a GPU undefined (a hang or
// garbage); here the lanes' call counts differ at the end of the block.
TEST_F(EmuWmmaDeathTest, CallOnSomeLanesOnlyTraps) {
  EXPECT_DEATH(run_warp(64, 64, same_ptr, [](unsigned thread) { return thread % 32 < 16; }),
               "warp 0: lane 16 made 3 warp-collective calls .* lane 0 made 4;");
}

// A lane-dependent pointer: each emulated lane would load its own tile and the
// product would look plausible; on a GPU the fragment is undefined.
TEST_F(EmuWmmaDeathTest, LaneDependentPointerTraps) {
  EXPECT_DEATH(run_warp(64, 64, [](__half* p, unsigned lane) { return p + 16 * (lane % 2); }, all_lanes),
               "warp 0: lane 1 made 4 warp-collective calls .* lane 0 made 4, with different arguments");
}

// Divergence in the second warp only: the check is per warp, and names it.
TEST_F(EmuWmmaDeathTest, DivergenceInTheSecondWarpIsNamed) {
  EXPECT_DEATH(run_warp(64, 64, same_ptr, [](unsigned thread) { return thread < 48; }),
               "block \\(0,0,0\\), warp 1: lane 16 made 3");
}

// Whole warps that skip a call together are fine: warp 1 makes no A load.
TEST_F(EmuWmmaDeathTest, AWarpUniformBranchRuns) {
  EXPECT_EXIT((run_warp(64, 64, same_ptr, [](unsigned thread) { return thread < 32; }), std::exit(0)),
              testing::ExitedWithCode(0), "");
}

}  // namespace
