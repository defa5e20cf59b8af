// Greedy lifetime-based arena planning (memory_plan.h).
#include "memory_plan.h"

#include <algorithm>
#include <numeric>

namespace xsep::graph {

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
