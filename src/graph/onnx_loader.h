// Loading an ONNX file into the runner's IR (ir.h).
#pragma once

#include <cstdint>
#include <string>

#include "ir.h"

namespace xsep::graph {

// Parses, checks (onnx::checker) and shape-infers an ONNX file with the first
// dimension of every graph input set to `batch` (0: keep declared sizes, a
// symbolic batch becomes 1), then decodes it into a Graph.
// Refuses, with a message naming the node, operator and reason, anything the
// runner does not support (supported_ops.h): throws GraphError.
Graph load_onnx(const std::string& path, int64_t batch);

// text with every line break (and the whitespace around it) made one space and
// the ends trimmed: ONNX's checker messages span lines, xsep_last_error() is one.
std::string one_line(const std::string& text);

}  // namespace xsep::graph
