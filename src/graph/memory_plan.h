// Static memory planning for the CUDA backend: every activation gets an offset
// in one arena, chosen from the tensors' lifetimes so that tensors alive at
// the same time never overlap (greedy, largest first).
#pragma once

#include <cstdint>
#include <vector>

namespace xsep::graph {

struct Lifetime {
  int64_t bytes = 0;  // 0: no buffer (a view or unused)
  int first = 0, last = 0;  // step indices, inclusive
};

// Returns one byte offset per lifetime (aligned to `align`) and the arena size.
std::vector<int64_t> plan_offsets(const std::vector<Lifetime>& lifetimes, int64_t align,
                                  int64_t* arena_bytes);

}  // namespace xsep::graph
