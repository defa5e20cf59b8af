// What the graph runner supports (supported_ops.cpp), checked at load time so
// that a model is refused up front rather than mid-run.
#pragma once

#include <string>

#include "ir.h"

namespace xsep::graph {

// Throws GraphError unless every node's operator, attributes and input types
// are supported by the runner.
void check_supported(const Graph& g);
// Whether the runner knows this (default-domain) operator at all; checked on
// the raw model before shape inference, which may crash on operators and
// attributes it does not validate.
bool is_supported_op(const std::string& op);

}  // namespace xsep::graph
