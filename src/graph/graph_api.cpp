// The graph runner's C API (include/xsep/graph.h): loading, running and
// describing a model, with every C++ error turned into a status and
// xsep_last_error() at this boundary.
#include "xsep/graph.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>

#include "../api/error.h"
#include "../api/validate.h"
#include "cuda_backend.h"
#include "ir.h"
#include "onnx_loader.h"
#include "reference_backend.h"

struct xsep_graph {
  xsep::graph::Graph g;
  xsep_graph_options options;
  std::unique_ptr<xsep::graph::CudaBackend> cuda;
  std::vector<std::vector<float>> last_inputs;  // the reference backend's inputs, for xsep_graph_time
  bool ran = false;  // the reference backend has run once (a model may have no inputs at all)
  std::string summary;
  std::mutex busy;  // run and time share the inputs, outputs and stream: one call at a time
};

namespace {

using xsep::detail::fail;
using xsep::graph::GraphError;

// Runs f, mapping exceptions to a status and this thread's last error (one
// line: some messages, ONNX's checker among them, span several).
template <class F>
xsep_status guarded(const char* fn, F&& f) {
  try {
    f();
    return XSEP_STATUS_SUCCESS;
  } catch (const GraphError& e) {
    return fail(e.status, fn, "%s", xsep::graph::one_line(e.what()).c_str());
  } catch (const std::bad_alloc&) {
    return fail(XSEP_STATUS_OUT_OF_MEMORY, fn, "out of host memory");
  } catch (const std::exception& e) {
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "%s", xsep::graph::one_line(e.what()).c_str());
  }
}

// Summary of the unfused graph (reference backend): one line per node.
std::string reference_summary(const xsep::graph::Graph& g) {
  std::ostringstream os;
  double macs = 0;
  size_t params = 0;
  for (const auto& v : g.values)
    if (v.constant && v.dtype == xsep::graph::DType::kFloat) params += v.f.size();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    const auto& ys = g.value(n.out[0]).shape;
    double m = 0;
    if (n.op == "Conv") {
      const auto& ws = g.value(n.in[1]).shape;
      m = double(g.value(n.out[0]).numel()) * ws[1] * ws[2] * ws[3];
    } else if (n.op == "Gemm" || n.op == "MatMul") {
      const auto& as = g.value(n.in[0]).shape;
      m = double(g.value(n.out[0]).numel()) * (n.op == "Gemm" && n.attr_i("transA", 0) ? as[0] : as.back());
    }
    macs += m;
    std::string shape;
    for (size_t d = 0; d < ys.size(); ++d) {
      if (d) shape += 'x';  // (not "x" + to_string: GCC 12 warns -Wrestrict on it)
      shape += std::to_string(ys[d]);
    }
    char line[512];
    std::snprintf(line, sizeof line, "  %3zu  %-20s %-40s -> %-16s %9.2f MMAC\n", i, n.op.c_str(), n.name.c_str(),
                  shape.c_str(), m / 1e6);
    os << line;
  }
  char tail[256];
  std::snprintf(tail, sizeof tail, "%zu nodes (reference backend: unfused), %zu float constants (BatchNorm statistics included), %.2f GMAC per batch\n",
                g.nodes.size(), params, macs / 1e9);
  return os.str() + tail;
}

}  // namespace

extern "C" {

void xsep_graph_default_options(xsep_graph_options* o) {
  if (o) *o = xsep_graph_options{XSEP_BACKEND_CUDA, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW, 1};
}

xsep_status xsep_graph_load(const char* path, const xsep_graph_options* options, xsep_graph** out) {
  const char* fn = "xsep_graph_load";
  if (out == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "graph (the output pointer) is NULL");
  *out = nullptr;
  if (path == nullptr) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "onnx_path is NULL");
  xsep_graph_options opt;
  xsep_graph_default_options(&opt);
  if (options) {
    const int backend = xsep::detail::enum_value(options->backend);
    const int dtype = xsep::detail::enum_value(options->dtype);
    const int layout = xsep::detail::enum_value(options->layout);
    if (backend != XSEP_BACKEND_CUDA && backend != XSEP_BACKEND_REFERENCE)
      return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "options->backend = %d; allowed: CUDA (0), REFERENCE (1)", backend);
    if (dtype != XSEP_DTYPE_F32 && dtype != XSEP_DTYPE_F16)
      return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "options->dtype = %d; allowed: F32 (0), F16 (1)", dtype);
    if (layout != XSEP_LAYOUT_NCHW && layout != XSEP_LAYOUT_NHWC)
      return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "options->layout = %d; allowed: NCHW (0), NHWC (1)", layout);
    if (options->batch < 0)
      return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "options->batch = %lld; it must be >= 0",
                  static_cast<long long>(options->batch));
    opt = xsep_graph_options{static_cast<xsep_backend>(backend), static_cast<xsep_dtype>(dtype),
                             static_cast<xsep_layout>(layout), options->batch};
    if (backend == XSEP_BACKEND_REFERENCE && (dtype != XSEP_DTYPE_F32 || layout != XSEP_LAYOUT_NCHW))
      return fail(XSEP_STATUS_UNSUPPORTED, fn, "the reference backend runs float32 NCHW only");
  }
  std::unique_ptr<xsep_graph> graph;
  const xsep_status s = guarded(fn, [&] {
    graph.reset(new xsep_graph);
    graph->options = opt;
    graph->g = xsep::graph::load_onnx(path, opt.batch);
    if (opt.backend == XSEP_BACKEND_CUDA) {
      graph->cuda.reset(new xsep::graph::CudaBackend(graph->g, xsep::graph::lower(graph->g, opt.dtype, opt.layout)));
      graph->summary = graph->cuda->summary();
    } else {
      graph->summary = reference_summary(graph->g);
    }
  });
  if (s == XSEP_STATUS_SUCCESS) *out = graph.release();
  return s;
}

void xsep_graph_destroy(xsep_graph* graph) { delete graph; }

int32_t xsep_graph_num_inputs(const xsep_graph* graph) {
  return graph ? static_cast<int32_t>(graph->g.inputs.size()) : 0;
}
int32_t xsep_graph_num_outputs(const xsep_graph* graph) {
  return graph ? static_cast<int32_t>(graph->g.outputs.size()) : 0;
}

static xsep_status shape_of(const char* fn, const xsep_graph* graph, const std::vector<int>* ids, int32_t index,
                            int32_t* rank, int64_t dims[8]) {
  if (!graph || !rank || !dims) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "graph, rank or dims is NULL");
  if (index < 0 || index >= static_cast<int32_t>(ids->size()))
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "index %d is out of range [0, %zu)", index, ids->size());
  const auto& s = graph->g.value((*ids)[index]).shape;
  if (s.size() > 8) return fail(XSEP_STATUS_UNSUPPORTED, fn, "rank %zu > 8", s.size());
  *rank = static_cast<int32_t>(s.size());
  for (size_t i = 0; i < s.size(); ++i) dims[i] = s[i];
  return XSEP_STATUS_SUCCESS;
}

xsep_status xsep_graph_input_shape(const xsep_graph* graph, int32_t index, int32_t* rank, int64_t dims[8]) {
  return shape_of("xsep_graph_input_shape", graph, graph ? &graph->g.inputs : nullptr, index, rank, dims);
}
xsep_status xsep_graph_output_shape(const xsep_graph* graph, int32_t index, int32_t* rank, int64_t dims[8]) {
  return shape_of("xsep_graph_output_shape", graph, graph ? &graph->g.outputs : nullptr, index, rank, dims);
}

xsep_status xsep_graph_run(xsep_graph* graph, const float* const* inputs, float* const* outputs) {
  const char* fn = "xsep_graph_run";
  if (!graph || !inputs || !outputs) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "graph, inputs or outputs is NULL");
  for (size_t i = 0; i < graph->g.inputs.size(); ++i)
    if (!inputs[i]) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "inputs[%zu] is NULL", i);
  for (size_t i = 0; i < graph->g.outputs.size(); ++i)
    if (!outputs[i]) return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "outputs[%zu] is NULL", i);
  return guarded(fn, [&] {
    std::lock_guard<std::mutex> one_at_a_time(graph->busy);
    if (graph->cuda) {
      graph->cuda->run(std::vector<const float*>(inputs, inputs + graph->g.inputs.size()),
                       std::vector<float*>(outputs, outputs + graph->g.outputs.size()));
      return;
    }
    graph->last_inputs.clear();
    for (size_t i = 0; i < graph->g.inputs.size(); ++i)
      graph->last_inputs.emplace_back(inputs[i], inputs[i] + graph->g.value(graph->g.inputs[i]).numel());
    const auto result = xsep::graph::run_reference(graph->g, graph->last_inputs);
    graph->ran = true;
    for (size_t i = 0; i < result.size(); ++i) std::memcpy(outputs[i], result[i].data(), result[i].size() * 4);
  });
}

xsep_status xsep_graph_time(xsep_graph* graph, int32_t iters, double* ms) {
  const char* fn = "xsep_graph_time";
  if (!graph || !ms || iters < 1)
    return fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "graph and ms must be non-NULL and iters >= 1 (got %d)", iters);
  return guarded(fn, [&] {
    std::lock_guard<std::mutex> one_at_a_time(graph->busy);
    if (graph->cuda) return graph->cuda->time(iters, ms);
    if (!graph->ran) xsep::graph::invalid("call xsep_graph_run once before timing (the inputs come from that run)");
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)xsep::graph::run_reference(graph->g, graph->last_inputs);
      ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  });
}

const char* xsep_graph_summary(const xsep_graph* graph) { return graph ? graph->summary.c_str() : ""; }

}  // extern "C"
