// The CUDA backend's memory plan (src/graph/memory_plan.h), without a device:
// the lifetimes it derives from a program and the offsets it gives them. The
// C API cannot show a planning error that only corrupts a replay
// (xsep_graph_time downloads nothing), so these check the plan itself:
//   - graph inputs stay alive through the last step (a later value given an
//     input's memory made every timed replay read that value as its input);
//   - a view's readers extend the life of the value it views;
//   - values alive at the same step never share a byte, on random lifetimes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "graph/memory_plan.h"

namespace {

using xsep::graph::Graph;
using xsep::graph::Lifetime;
using xsep::graph::plan_offsets;
using xsep::graph::Program;
using xsep::graph::Step;
using xsep::graph::value_lifetimes;

// A graph of `n` float values of `shape` (no nodes: the plan reads only the
// values, the graph inputs and outputs, and the program's steps).
Graph values_graph(int n, const std::vector<int64_t>& shape) {
  Graph g;
  for (int v = 0; v < n; ++v) {
    g.values.emplace_back();
    g.values.back().name = std::to_string(v);
    g.values.back().shape = shape;
  }
  return g;
}

Step step(std::vector<int> inputs, int output) {
  Step s{};
  s.inputs = std::move(inputs);
  s.output = output;
  return s;
}

// Byte ranges [offset, offset + bytes) of a and b intersect.
bool share_memory(const std::vector<Lifetime>& lt, const std::vector<int64_t>& off, size_t a, size_t b) {
  return off[a] < off[b] + lt[b].bytes && off[b] < off[a] + lt[a].bytes;
}
bool alive_together(const Lifetime& a, const Lifetime& b) { return a.first <= b.last && b.first <= a.last; }

// x -> conv -> y1 -> conv -> y2 -> conv -> y3: x is read by step 0 only, yet
// xsep_graph_time replays steps 0..2 on it, so no y may take its memory.
TEST(MemoryPlan, GraphInputsOutliveEveryStep) {
  Graph g = values_graph(4, {1, 8, 16, 16});
  g.inputs = {0};
  g.outputs = {3};
  Program p;
  p.storage.resize(4);
  p.steps = {step({0}, 1), step({1}, 2), step({2}, 3)};
  const std::vector<Lifetime> lt = value_lifetimes(g, p, 4);
  EXPECT_EQ(lt[0].first, -1);
  EXPECT_EQ(lt[0].last, 2) << "the input must live through the last step";
  EXPECT_EQ(lt[3].last, 3) << "the output must live through the download";
  for (size_t v = 0; v < lt.size(); ++v) EXPECT_EQ(lt[v].bytes, 8 * 16 * 16 * 4) << v;
  int64_t arena = 0;
  const std::vector<int64_t> off = plan_offsets(lt, 256, &arena);
  for (size_t v = 1; v < lt.size(); ++v)
    EXPECT_FALSE(share_memory(lt, off, 0, v)) << "value " << v << " is planned over the graph input";
}

// x -> s0 -> a; v = Reshape(a) (a view); s1 reads v -> b. a's buffer must live
// until s1, and the view has no buffer of its own.
TEST(MemoryPlan, ViewReadersExtendTheirRootsLife) {
  Graph g = values_graph(5, {1, 4, 8, 8});
  g.inputs = {0};
  g.outputs = {3};
  Program p;
  p.storage.resize(5);
  p.storage[2].alias_of = 1;  // v2 views v1
  p.steps = {step({0}, 1), step({0}, 4), step({2, 4}, 3)};
  const std::vector<Lifetime> lt = value_lifetimes(g, p, 2);
  EXPECT_EQ(lt[1].first, 0);
  EXPECT_EQ(lt[1].last, 2) << "the viewed value must live until its view's last reader";
  EXPECT_EQ(lt[2].bytes, 0) << "a view has no buffer";
  EXPECT_EQ(lt[1].bytes, 4 * 8 * 8 * 2);
  int64_t arena = 0;
  const std::vector<int64_t> off = plan_offsets(lt, 256, &arena);
  EXPECT_FALSE(share_memory(lt, off, 1, 4));
}

// Three tensors in a chain, each alive with its neighbours (inclusive steps):
// the middle one shares memory with neither, the outer two may share.
TEST(MemoryPlan, NeighboursInAChainNeverShare) {
  const int64_t b = 1000;
  const std::vector<Lifetime> lt = {{b, -1, 0}, {b, 0, 1}, {b, 1, 2}};
  int64_t arena = 0;
  const std::vector<int64_t> off = plan_offsets(lt, 256, &arena);
  EXPECT_FALSE(share_memory(lt, off, 0, 1));
  EXPECT_FALSE(share_memory(lt, off, 1, 2));
  EXPECT_EQ(arena, 2 * 1024) << "the outer two are never alive together: one slot for both";
}

// Random lifetimes: every offset aligned, no two tensors alive at the same step
// share a byte, and the arena holds every tensor.
TEST(MemoryPlan, RandomLifetimesNeverOverlapWhileAlive) {
  std::mt19937 rng(20261129);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<Lifetime> lt(static_cast<size_t>(pick(1, 40)));
    for (Lifetime& l : lt) {
      l.bytes = pick(0, 4) == 0 ? 0 : pick(1, 5000);
      l.first = pick(-1, 20);
      l.last = l.first + pick(0, 8);
    }
    const int64_t align = trial % 2 ? 256 : 64;
    int64_t arena = 0;
    const std::vector<int64_t> off = plan_offsets(lt, align, &arena);
    ASSERT_EQ(off.size(), lt.size());
    for (size_t a = 0; a < lt.size(); ++a) {
      if (lt[a].bytes == 0) continue;
      EXPECT_EQ(off[a] % align, 0) << "trial " << trial << " tensor " << a;
      EXPECT_LE(off[a] + lt[a].bytes, arena) << "trial " << trial << " tensor " << a;
      for (size_t b = a + 1; b < lt.size(); ++b) {
        if (lt[b].bytes != 0 && alive_together(lt[a], lt[b])) {
          ASSERT_FALSE(share_memory(lt, off, a, b)) << "trial " << trial << ": tensors " << a << " and " << b;
        }
      }
    }
  }
}

}  // namespace
