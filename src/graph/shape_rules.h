// ONNX's shape rules that depend on a constant input's values (Reshape's shape,
// Split's sizes), and how messages write a shape. One implementation for the
// loader, which checks the shapes it records against them (onnx_loader.cpp),
// and for the reference backend, which computes with them (reference_backend.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xsep::graph {

// "[1, 4, 2, 2]"
std::string shape_text(const std::vector<int64_t>& shape);

// Reshape of an input of shape `in` by the shape input `spec`: its entries are
// sizes, except -1 (at most one: inferred from the element count) and 0 (the
// input's size at that index, or a real 0 when allowzero). Writes *out and
// returns "", or returns why `spec` does not apply to `in`.
std::string reshape_shape(const std::vector<int64_t>& in, const std::vector<int64_t>& spec, bool allowzero,
                          std::vector<int64_t>* out);

// Split of an input of shape `in` along `axis` (in [0, rank)) into parts of
// `sizes`, one per output of `parts`. Writes the parts' shapes to *out and
// returns "", or returns why the sizes do not fit.
std::string split_shapes(const std::vector<int64_t>& in, size_t axis, const std::vector<int64_t>& sizes,
                         size_t parts, std::vector<std::vector<int64_t>>* out);

}  // namespace xsep::graph
