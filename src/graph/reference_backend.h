// The REFERENCE backend: runs a Graph on the CPU, node by node, straight from
// the ONNX operator definitions. It is the oracle every other backend is
// compared with, so it is written to be obviously correct, not fast.
#pragma once

#include <vector>

#include "ir.h"

namespace xsep::graph {

// Runs g on the CPU node by node, the most direct way (the oracle for every other backend).
// inputs: one row-major float vector per g.inputs (size = value numel). Returns one vector per
// g.outputs. Sums are accumulated in double, values stored as float.
// Throws GraphError: INVALID_ARGUMENT for wrong inputs or a malformed node that the load-time
// checks could not catch, UNSUPPORTED for a form of an operator the runner does not provide.
std::vector<std::vector<float>> run_reference(const Graph& g, const std::vector<std::vector<float>>& inputs);

}  // namespace xsep::graph
