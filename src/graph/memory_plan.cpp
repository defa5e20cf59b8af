// Greedy lifetime-based arena planning (memory_plan.h).
#include "memory_plan.h"

#include <algorithm>
#include <numeric>

namespace xsep::graph {

std::vector<Lifetime> value_lifetimes(const Graph& g, const Program& p, int64_t element_bytes) {
  const size_t nv = g.values.size();
  std::vector<Lifetime> lt(nv);
  const int steps = static_cast<int>(p.steps.size());
  std::vector<bool> used(nv, false);
  auto touch = [&](int v, int step) {
    const int r = p.storage_root(v);
    if (!used[r]) lt[r].first = lt[r].last = step, used[r] = true;
    lt[r].first = std::min(lt[r].first, step);
    lt[r].last = std::max(lt[r].last, step);
  };
  for (int v : g.inputs) touch(v, -1), touch(v, steps - 1);
  for (int i = 0; i < steps; ++i) {
    for (int v : p.steps[i].inputs) touch(v, i);
    touch(p.steps[i].output, i);
  }
  for (int v : g.outputs) touch(v, steps);
  for (size_t v = 0; v < nv; ++v)
    if (used[v] && p.storage_root(static_cast<int>(v)) == static_cast<int>(v))
      lt[v].bytes = g.values[v].numel() * element_bytes;
  return lt;
}

std::vector<int64_t> plan_offsets(const std::vector<Lifetime>& lt, int64_t align, int64_t* arena_bytes) {
  std::vector<int64_t> offset(lt.size(), 0);
  std::vector<size_t> order(lt.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first: big tensors get low offsets, small ones fill the gaps.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lt[a].bytes > lt[b].bytes; });
  std::vector<size_t> placed;
  int64_t total = 0;
  for (size_t i : order) {
    if (lt[i].bytes == 0) continue;
    const int64_t size = (lt[i].bytes + align - 1) / align * align;
    // Intervals [offset, offset+size) of placed tensors alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (lt[j].first <= lt[i].last && lt[i].first <= lt[j].last)
        busy.emplace_back(offset[j], offset[j] + (lt[j].bytes + align - 1) / align * align);
    std::sort(busy.begin(), busy.end());
    int64_t at = 0;
    for (const auto& [lo, hi] : busy) {
      if (at + size <= lo) break;
      at = std::max(at, hi);
    }
    offset[i] = at;
    total = std::max(total, at + size);
    placed.push_back(i);
  }
  *arena_bytes = total;
  return offset;
}

}  // namespace xsep::graph
