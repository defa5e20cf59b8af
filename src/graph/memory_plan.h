// Static memory planning for the CUDA backend: every activation gets an offset
// in one arena, chosen from the tensors' lifetimes so that tensors alive at
// the same time never overlap (greedy, largest first).
#pragma once

#include <cstdint>
#include <vector>

#include "program.h"

namespace xsep::graph {

struct Lifetime {
  int64_t bytes = 0;  // 0: no buffer (a view or unused)
  int first = 0, last = 0;  // step indices, inclusive
};

// One lifetime per value of g: the steps from the first to the last that
// writes or reads its buffer (a view's steps count for the value it views;
// the view itself gets bytes = 0). Graph inputs live from -1 (the upload)
// through the last step, not only to their last reader: xsep_graph_time
// replays every step on the inputs of the last run, so no later value may
// take their memory. Graph outputs live through `steps` (the download).
std::vector<Lifetime> value_lifetimes(const Graph& g, const Program& p, int64_t element_bytes);

// Returns one byte offset per lifetime (aligned to `align`) and the arena size.
std::vector<int64_t> plan_offsets(const std::vector<Lifetime>& lifetimes, int64_t align,
                                  int64_t* arena_bytes);

}  // namespace xsep::graph
