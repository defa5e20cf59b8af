// A Conv node's padding and output extent along one spatial axis, from its
// ONNX attributes: shared by the load-time check (supported_ops.cpp) and the
// cuda backend's lowering (lower.cpp), so the shape the loader accepts is the
// shape the kernels compute. The reference backend keeps its own copy of the
// formula: it is the oracle both are tested against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

namespace xsep::graph {

struct ConvAxis {
  int64_t pad_begin, pad_end;  // zeros before / after the input
  int64_t extent;              // in + pad_begin + pad_end
  int64_t kernel_extent;       // (k - 1) * dilation + 1
  int64_t out;                 // (extent - kernel_extent) / stride + 1; 0 when the kernel does not fit
};

// auto_pad NOTSET takes pad_begin / pad_end (from `pads`); VALID pads nothing;
// SAME_UPPER / SAME_LOWER make out = ceil(in / stride) with total padding
// max(0, (out - 1) * stride + kernel_extent - in), split in halves, the odd one
// at the end (UPPER) or at the beginning (LOWER). The loader bounds the
// operands (in < 2^31, attributes <= 2^30, stride and dilation >= 1), so no
// product here overflows int64.
inline ConvAxis conv_axis(const std::string& auto_pad, int64_t in, int64_t k, int64_t stride,
                          int64_t dilation, int64_t pad_begin, int64_t pad_end) {
  ConvAxis a{};
  a.kernel_extent = (k - 1) * dilation + 1;
  if (auto_pad == "VALID") {
    pad_begin = pad_end = 0;
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    const int64_t out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (out - 1) * stride + a.kernel_extent - in);
    pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
  }
  a.pad_begin = pad_begin;
  a.pad_end = pad_end;
  a.extent = in + pad_begin + pad_end;
  a.out = a.extent < a.kernel_extent ? 0 : (a.extent - a.kernel_extent) / stride + 1;
  return a;
}

}  // namespace xsep::graph
