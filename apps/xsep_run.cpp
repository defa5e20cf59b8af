// xsep-run: loads an ONNX model, runs it with the xsep graph runner and prints
// the model after fusion, the output shapes, the top-5 classes of the first
// item of the first output and, with --iters, a latency table. Without --batch
// or --input the batch is the model's (1 where it is symbolic).
//
//   xsep-run MODEL.onnx [--input X.npy] [--output Y.npy] [--batch N]
//            [--backend cuda|reference] [--dtype f32|f16] [--layout nchw|nhwc] [--iters N]
#include <algorithm>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "npy.h"
#include "xsep/graph.h"

namespace {

struct Args {
  std::string model, input, output;
  xsep_graph_options options;
  int iters = 0;
  bool batch_given = false;
};

const char* kUsage =
    "usage: xsep-run MODEL.onnx [--input X.npy] [--output Y.npy] [--batch N]\n"
    "                [--backend cuda|reference] [--dtype f32|f16] [--layout nchw|nhwc] [--iters N]";

Args parse(int argc, char** argv) {
  Args a;
  xsep_graph_default_options(&a.options);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    auto integer = [&](const std::string& v) {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end) throw std::runtime_error(arg + ": '" + v + "' is not an integer");
      return n;
    };
    if (arg == "--input") a.input = value();
    else if (arg == "--output") a.output = value();
    else if (arg == "--batch") {
      a.options.batch = integer(value());
      a.batch_given = true;
      if (a.options.batch < 1) throw std::runtime_error("--batch must be >= 1");
    } else if (arg == "--iters") {
      a.iters = static_cast<int>(integer(value()));
      if (a.iters < 1) throw std::runtime_error("--iters must be >= 1");
    } else if (arg == "--backend") {
      const std::string v = value();
      if (v == "cuda") a.options.backend = XSEP_BACKEND_CUDA;
      else if (v == "reference") a.options.backend = XSEP_BACKEND_REFERENCE;
      else throw std::runtime_error("--backend: '" + v + "'; allowed: cuda, reference");
    } else if (arg == "--dtype") {
      const std::string v = value();
      if (v == "f32") a.options.dtype = XSEP_DTYPE_F32;
      else if (v == "f16") a.options.dtype = XSEP_DTYPE_F16;
      else throw std::runtime_error("--dtype: '" + v + "'; allowed: f32, f16");
    } else if (arg == "--layout") {
      const std::string v = value();
      if (v == "nchw") a.options.layout = XSEP_LAYOUT_NCHW;
      else if (v == "nhwc") a.options.layout = XSEP_LAYOUT_NHWC;
      else throw std::runtime_error("--layout: '" + v + "'; allowed: nchw, nhwc");
    } else if (arg == "-h" || arg == "--help") {
      std::puts(kUsage);
      std::exit(0);
    } else if (!arg.empty() && arg[0] == '-') {
      throw std::runtime_error("unknown option " + arg);
    } else if (a.model.empty()) {
      a.model = arg;
    } else {
      throw std::runtime_error("unexpected argument '" + arg + "'");
    }
  }
  if (a.model.empty()) throw std::runtime_error("no model given");
  return a;
}

void check(xsep_status s) {
  if (s != XSEP_STATUS_SUCCESS)
    throw std::runtime_error(std::string(xsep_status_string(s)) + ": " + xsep_last_error());
}

std::vector<int64_t> shape_of(bool input, const xsep_graph* g, int index) {
  int32_t rank = 0;
  int64_t dims[8];
  check(input ? xsep_graph_input_shape(g, index, &rank, dims) : xsep_graph_output_shape(g, index, &rank, dims));
  return std::vector<int64_t>(dims, dims + rank);
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? " x " : "") + std::to_string(s[i]);
  return t;
}

int64_t numel(const std::vector<int64_t>& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

int run(int argc, char** argv) {
  Args a = parse(argc, argv);
  xsep_app::NpyArray input;
  if (!a.input.empty()) {
    input = xsep_app::read_npy(a.input);
    if (!a.batch_given && !input.shape.empty()) a.options.batch = input.shape[0];
  } else if (!a.batch_given) {
    a.options.batch = 0;  // as the model declares it (a symbolic batch becomes 1)
  }
  xsep_graph* g = nullptr;
  check(xsep_graph_load(a.model.c_str(), &a.options, &g));
  std::unique_ptr<xsep_graph, void (*)(xsep_graph*)> guard(g, xsep_graph_destroy);
  if (xsep_graph_num_inputs(g) != 1 || xsep_graph_num_outputs(g) < 1)
    throw std::runtime_error("xsep-run drives models with one input (this one has " +
                             std::to_string(xsep_graph_num_inputs(g)) + ")");
  const auto in_shape = shape_of(true, g, 0);
  const int n_outputs = xsep_graph_num_outputs(g);
  if (a.input.empty()) {
    input.shape = in_shape;
    input.data.resize(static_cast<size_t>(numel(in_shape)));
    std::mt19937 rng(2026);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (float& v : input.data) v = normal(rng);
  } else if (input.shape != in_shape) {
    throw std::runtime_error("--input has shape " + shape_text(input.shape) + "; the model expects " +
                             shape_text(in_shape));
  }
  // Every output gets its buffer (the runner writes them all); the summary,
  // the top-5 and --output are about the first.
  std::vector<std::vector<int64_t>> out_shapes;
  std::vector<std::vector<float>> out_data;
  std::vector<float*> outs;
  for (int i = 0; i < n_outputs; ++i) {
    out_shapes.push_back(shape_of(false, g, i));
    out_data.emplace_back(static_cast<size_t>(numel(out_shapes.back())));
  }
  for (auto& o : out_data) outs.push_back(o.data());
  const auto& out_shape = out_shapes[0];
  const std::vector<float>& output = out_data[0];
  const float* ins[] = {input.data.data()};
  check(xsep_graph_run(g, ins, outs.data()));

  std::printf("model %s, backend %s, %s, %s\n", a.model.c_str(),
              a.options.backend == XSEP_BACKEND_CUDA ? "cuda" : "reference",
              a.options.dtype == XSEP_DTYPE_F32 ? "float32" : "float16",
              a.options.layout == XSEP_LAYOUT_NCHW ? "NCHW" : "NHWC");
  std::printf("after fusion:\n%s", xsep_graph_summary(g));
  std::printf("input  %s%s\n", shape_text(in_shape).c_str(), a.input.empty() ? " (seeded random normal)" : "");
  for (int i = 0; i < n_outputs; ++i)
    std::printf("output %s%s\n", shape_text(out_shapes[i]).c_str(),
                n_outputs == 1 ? "" : (" (output " + std::to_string(i) + (i == 0 ? ", shown below)" : ")")).c_str());
  const int64_t classes = out_shape.empty() ? 1 : numel(out_shape) / out_shape[0];
  std::vector<int64_t> idx(static_cast<size_t>(classes));
  std::iota(idx.begin(), idx.end(), 0);
  const size_t top = std::min<size_t>(5, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + top, idx.end(),
                    [&](int64_t x, int64_t y) { return output[x] > output[y]; });
  std::printf("top-%zu of item 0:", top);
  for (size_t i = 0; i < top; ++i) std::printf("  %lld (%.4f)", static_cast<long long>(idx[i]), output[idx[i]]);
  std::printf("\n");
  if (!a.output.empty()) xsep_app::write_npy(a.output, out_shape, output.data());
  if (a.iters > 0) {
    std::vector<double> ms(static_cast<size_t>(a.iters));
    check(xsep_graph_time(g, a.iters, ms.data()));
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2], p90 = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
    const double batch = static_cast<double>(in_shape.empty() ? 1 : in_shape[0]);
    std::printf("latency over %d runs: median %.3f ms, p90 %.3f ms, %.1f images/s\n", a.iters, median, p90,
                batch * 1000.0 / median);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xsep-run: %s\n", e.what());
    return 1;
  }
}
