// Host-side choice of a block's tile: how many output rows, columns and
// channels one block computes, shrunk until its shared memory fits a budget.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>

namespace xsep::kernels {

// Outputs per thread along the blocked axis (the register blocking of conv_line).
constexpr int kOpt = 4;

// The launchers' shared-memory limits and SM counts come from the device they
// launch on (device_limits.h), not from constants here.

inline int round_up(int v, int m) { return (v + m - 1) / m * m; }
inline int ceil_div(int v, int m) { return (v + m - 1) / m; }

struct Tile {
  int h, w, c;  // outputs per block: rows, columns, channels
  int vec;      // staging vector width (1 = scalar)
};

// shrink_to_fit and balance_rows are mirrored in bench/tile_counts.py (test tile_counts fails when the two differ):
// a change here goes there too.
// Starts from `t` and halves the larger spatial side (never below `min_h` /
// `min_w`, staying a multiple of them), then the channel count, until
// smem_bytes(tile) <= budget. min_* are kOpt on a register-blocked axis.
inline Tile shrink_to_fit(Tile t, int min_h, int min_w, size_t budget,
                          const std::function<size_t(const Tile&)>& smem_bytes) {
  while (smem_bytes(t) > budget) {
    if (t.h > min_h && t.h >= t.w) {
      t.h = std::max(min_h, round_up(t.h / 2, min_h));
    } else if (t.w > min_w) {
      t.w = std::max(min_w, round_up(t.w / 2, min_w));
    } else if (t.h > min_h) {
      t.h = std::max(min_h, round_up(t.h / 2, min_h));
    } else if (t.c > 1) {
      t.c /= 2;
      if (t.c % t.vec != 0) t.vec = 1;
    } else {
      break;  // the smallest tile; the launcher refuses it if it still does not fit
    }
  }
  return t;
}

// The same number of tile rows, all of (nearly) equal height: e.g. 56 output
// rows in tiles of 32 become two tiles of 28 rather than 32 + 24, so no block
// stages a halo and runs its passes for 8 rows that do not exist. The height
// stays a multiple of min_h and never grows, so the tile still fits the budget
// it was shrunk to. Only rows: in NCHW a warp's lanes run along a tile row, and
// a width that is not 32 would make the lanes past the row's end wrap onto
// another bank pattern (2-way conflicts with the kernels' odd row pitches).
inline Tile balance_rows(Tile t, int ho, int min_h) {
  t.h = std::min(t.h, round_up(ceil_div(ho, ceil_div(ho, t.h)), min_h));
  return t;
}

}  // namespace xsep::kernels
