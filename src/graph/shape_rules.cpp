#include "shape_rules.h"

namespace xsep::graph {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string reshape_shape(const std::vector<int64_t>& in, const std::vector<int64_t>& spec, bool allowzero,
                          std::vector<int64_t>* out) {
  int64_t in_numel = 1;
  for (int64_t d : in) in_numel *= d;  // the loader bounds every shape it records (checked_numel)
  std::vector<int64_t> ys(spec.begin(), spec.end());
  int64_t known = 1;
  int rest = -1;
  for (size_t i = 0; i < ys.size(); ++i) {
    if (ys[i] == -1) {
      if (rest >= 0) return "the shape " + shape_text(spec) + " has more than one -1";
      rest = static_cast<int>(i);
      continue;
    }
    if (ys[i] < -1) return "the shape " + shape_text(spec) + " has a size below -1";
    if (ys[i] == 0 && !allowzero) {
      if (i >= in.size())
        return "the shape " + shape_text(spec) + " copies (with a 0) dimension " + std::to_string(i) +
               " of an input of rank " + std::to_string(in.size());
      ys[i] = in[i];
    }
    if (__builtin_mul_overflow(known, ys[i], &known)) return "the shape " + shape_text(spec) + " overflows 64 bits";
  }
  if (rest >= 0) {
    if (known <= 0 || in_numel % known != 0)
      return "the shape " + shape_text(spec) + " cannot hold the " + std::to_string(in_numel) + " elements of " +
             shape_text(in);
    ys[static_cast<size_t>(rest)] = in_numel / known;
  } else if (known != in_numel) {
    return "the shape " + shape_text(spec) + " holds " + std::to_string(known) + " elements, the input " +
           shape_text(in) + " " + std::to_string(in_numel);
  }
  *out = std::move(ys);
  return "";
}

std::string split_shapes(const std::vector<int64_t>& in, size_t axis, const std::vector<int64_t>& sizes,
                         size_t parts, std::vector<std::vector<int64_t>>* out) {
  if (sizes.size() != parts)
    return std::to_string(sizes.size()) + " split sizes for " + std::to_string(parts) + " outputs";
  int64_t total = 0;
  std::vector<std::vector<int64_t>> shapes;
  for (int64_t s : sizes) {
    if (s < 0 || __builtin_add_overflow(total, s, &total)) return "bad split sizes " + shape_text(sizes);
    shapes.push_back(in);
    shapes.back()[axis] = s;
  }
  if (total != in[axis])
    return "the split sizes " + shape_text(sizes) + " add up to " + std::to_string(total) + ", not to dimension " +
           std::to_string(axis) + " of " + shape_text(in);
  *out = std::move(shapes);
  return "";
}

}  // namespace xsep::graph
