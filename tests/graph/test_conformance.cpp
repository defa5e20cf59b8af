// ONNX's own node tests (Debian package libonnx-testdata), twice:
//   OnnxConformance.Case      through load_onnx and the reference backend;
//   OnnxConformanceCuda.Case  through the C API (xsep_graph_load / _run) with
//                             the CUDA backend: fusion, lowering and the xsep
//                             kernels (on the emulated device in an emu build).
// Every case of a supported operator is loaded with the declared shapes, run on
// its recorded inputs and compared with its recorded outputs at ONNX's
// backend-test tolerance.
//   pass:  every output of every test_data_set_* matches;
//   skip:  the model is refused as UNSUPPORTED (another operator, a non-float
//          type, a runtime shape input, a construct the CUDA backend does not
//          lower, ...), with the reason; on the CUDA backend also every case
//          when there is no device (NO_DEVICE: a CUDA build without a GPU);
//   fail:  any other load or run error, or a mismatch (the CUDA backend's
//          failures print the fused program, xsep_graph_summary).
// Cases whose int64 graph inputs (Reshape's shape, Split's split) make the
// loader refuse them also run as "<case>_frozen": those inputs, from the test
// data, become initializers, as a deployed model with static shapes has them.
// Cases with more than one float input also run as "<case>_consts": every
// input but the first (weights, BatchNorm parameters, Clip bounds, second
// operands) becomes an initializer too, as in a deployed model; the CUDA
// backend needs constant weights, and folds constant operands.
// The summary (cases run, skipped with reasons, counts) is printed at the end
// of each suite. XSEP_ONNX_NODE_TESTDATA overrides the data directory;
// XSEP_CONFORMANCE_CUDA_LAYOUT=nhwc / XSEP_CONFORMANCE_CUDA_DTYPE=f16 run the
// CUDA backend with channels-last / half activations instead (f16: tolerance
// 1e-2 absolute + relative instead of ONNX's).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include "graph/ir.h"
#include "graph/onnx_loader.h"
#include "graph/reference_backend.h"
#include "xsep/graph.h"

namespace fs = std::filesystem;
using xsep::graph::Graph;
using xsep::graph::GraphError;

namespace {

// The operators of src/graph/supported_ops.cpp, as test directory prefixes
// (Conv's basic cases are test_basic_conv_*, Dropout's training-mode ones
// test_training_dropout_*; test_conv / test_matmul also match ConvInteger,
// ConvTranspose and MatMulInteger, which skip as unsupported operators).
// Directories of other operators are not run at all.
const char* const kPrefixes[] = {
    "test_conv", "test_basic_conv", "test_batchnorm", "test_relu", "test_clip",
    "test_hardswish", "test_hardsigmoid", "test_add", "test_mul", "test_globalaveragepool",
    "test_flatten", "test_reshape", "test_gemm", "test_matmul", "test_identity",
    "test_dropout", "test_training_dropout", "test_split", "test_concat"};

fs::path data_dir() {
  const char* env = std::getenv("XSEP_ONNX_NODE_TESTDATA");
  return env && *env ? fs::path(env) : fs::path("/usr/share/libonnx-testdata/data/node");
}

bool parse_file(const fs::path& p, google::protobuf::MessageLite& msg) {
  std::ifstream f(p, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return f.good() || f.eof() ? msg.ParseFromString(bytes) : false;
}

// Positions of the model's graph inputs (initializers excluded) of type INT64.
std::set<size_t> int64_inputs(const onnx::ModelProto& m) {
  std::set<std::string> inits;
  for (const auto& t : m.graph().initializer()) inits.insert(t.name());
  std::set<size_t> out;
  size_t pos = 0;
  for (const auto& in : m.graph().input()) {
    if (inits.count(in.name())) continue;
    if (in.type().tensor_type().elem_type() == onnx::TensorProto::INT64) out.insert(pos);
    ++pos;
  }
  return out;
}

// Positions of the model's float graph inputs (initializers excluded) after the first input.
std::set<size_t> later_float_inputs(const onnx::ModelProto& m) {
  std::set<std::string> inits;
  for (const auto& t : m.graph().initializer()) inits.insert(t.name());
  std::set<size_t> out;
  size_t pos = 0;
  for (const auto& in : m.graph().input()) {
    if (inits.count(in.name())) continue;
    if (pos > 0 && in.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT) out.insert(pos);
    ++pos;
  }
  return out;
}

// Which recorded inputs become initializers.
enum class Freeze { kNone, kInt64, kAllButFirst };

struct Case {
  std::string name;  // the directory name, + "_frozen" / "_consts" for the variants
  fs::path dir;
  Freeze freeze = Freeze::kNone;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// The input positions case `c` turns into initializers.
std::set<size_t> frozen_inputs(const Case& c, const onnx::ModelProto& m) {
  if (c.freeze == Freeze::kNone) return {};
  std::set<size_t> out = int64_inputs(m);
  if (c.freeze == Freeze::kAllButFirst)
    for (size_t p : later_float_inputs(m)) out.insert(p);
  return out;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  std::error_code ec;
  if (!fs::is_directory(data_dir(), ec)) return {{"testdata_missing", data_dir(), Freeze::kNone}};
  for (const auto& e : fs::directory_iterator(data_dir(), ec)) {
    const std::string name = e.path().filename().string();
    const bool listed = std::any_of(std::begin(kPrefixes), std::end(kPrefixes),
                                    [&](const char* p) { return name.rfind(p, 0) == 0; });
    if (!listed || !fs::exists(e.path() / "model.onnx")) continue;
    out.push_back({name, e.path(), Freeze::kNone});
    onnx::ModelProto m;
    if (!parse_file(e.path() / "model.onnx", m)) continue;
    if (!int64_inputs(m).empty()) out.push_back({name + "_frozen", e.path(), Freeze::kInt64});
    if (!later_float_inputs(m).empty()) out.push_back({name + "_consts", e.path(), Freeze::kAllButFirst});
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return out;
}

// A recorded tensor's float data (raw_data, little-endian, or float_data).
std::vector<float> floats_of(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != v.size() * 4) throw std::runtime_error("raw_data has the wrong size");
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (t.float_data_size() != n) throw std::runtime_error("float_data has the wrong size");
    std::copy(t.float_data().begin(), t.float_data().end(), v.begin());
  }
  return v;
}

// <set>/<prefix>_0.pb, _1.pb, ... while they exist.
std::vector<onnx::TensorProto> read_tensors(const fs::path& set, const std::string& prefix) {
  std::vector<onnx::TensorProto> out;
  for (int i = 0;; ++i) {
    const fs::path p = set / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    onnx::TensorProto t;
    if (!parse_file(p, t)) throw std::runtime_error("cannot parse " + p.string());
    out.push_back(std::move(t));
  }
  return out;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// The status's name.
std::string status_name(xsep_status s) { return xsep_status_string(s); }

struct Summary {
  std::string title;
  std::vector<std::string> passed, failed;
  std::vector<std::pair<std::string, std::string>> skipped;  // name, reason
};

void print_summary(const Summary& s) {
  std::cout << "\n==== ONNX node conformance (" << s.title << ") ====\nrun and passed:";
  for (const auto& n : s.passed) std::cout << ' ' << n;
  // Skip reasons grouped once the quoted names (nodes, tensors) are blanked out.
  std::map<std::string, std::vector<std::string>> groups;
  const std::regex quoted("'[^']*'");
  for (const auto& [name, why] : s.skipped) groups[std::regex_replace(why, quoted, "'.'")].push_back(name);
  std::cout << "\nskipped, by reason:\n";
  for (const auto& [why, names] : groups) {
    std::cout << "  " << why << "\n   ";
    for (const auto& n : names) std::cout << ' ' << n;
    std::cout << '\n';
  }
  std::cout << "failed:";
  for (const auto& n : s.failed) std::cout << ' ' << n;
  std::cout << "\ncounts: " << s.passed.size() << " passed, " << s.skipped.size() << " skipped, " << s.failed.size()
            << " failed\n";
}

// Cases of every supported operator that pass on both backends (the _consts
// variants where the cuda backend needs constant weights). A skip is a pass
// for the suite, so a loader or lowering change that starts refusing one of
// them would go unnoticed; each of these that ran must have passed.
const char* const kMustPass[] = {
    "test_add_bcast_consts", "test_basic_conv_with_padding_consts", "test_batchnorm_example_consts",
    "test_clip_example_consts", "test_concat_3d_axis_negative_1", "test_conv_with_autopad_same_consts",
    "test_conv_with_strides_and_asymmetric_padding_consts", "test_dropout_default", "test_flatten_negative_axis1",
    "test_gemm_all_attributes_consts", "test_gemm_beta_consts", "test_globalaveragepool", "test_hardsigmoid_example",
    "test_hardswish", "test_identity", "test_matmul_4d_consts", "test_mul_bcast_consts", "test_relu",
    "test_reshape_negative_dim_frozen", "test_split_equal_parts_2d", "test_split_variable_parts_2d_frozen"};

void check_must_pass(const Summary& s) {
  for (const char* name : kMustPass)
    for (const auto& [skipped, why] : s.skipped)
      if (skipped == name) ADD_FAILURE() << s.title << ": " << name << " must pass but was skipped: " << why;
}

// The test_data_set_* directories of a case, sorted.
std::vector<fs::path> data_sets(const fs::path& dir) {
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  return sets;
}

// Absolute and relative tolerance of ONNX's backend tests
// (onnx/backend/test/runner: rtol 1e-3, atol 1e-7), NaN equal to NaN.
bool close(float got, float exp, double atol = 1e-7, double rtol = 1e-3) {
  if (std::isnan(got) || std::isnan(exp)) return std::isnan(got) && std::isnan(exp);
  if (std::isinf(exp)) return got == exp;
  return std::fabs(double{got} - exp) <= atol + rtol * std::fabs(double{exp});
}

// Compares output `name` with the recorded tensor; returns the mismatch count
// (the first five reported) and the largest absolute difference in *max_diff.
int compare(const std::string& name, const std::vector<float>& got, const std::vector<float>& exp, double atol,
            double rtol, double* max_diff) {
  int bad = 0;
  *max_diff = 0;
  for (size_t i = 0; i < exp.size(); ++i) {
    const double d = std::fabs(double{got[i]} - exp[i]);
    if (!std::isnan(d)) *max_diff = std::max(*max_diff, d);
    if (!close(got[i], exp[i], atol, rtol)) {
      if (std::isnan(d)) *max_diff = INFINITY;
      if (++bad <= 5)
        ADD_FAILURE() << "output '" << name << "' [" << i << "]: got " << got[i] << ", expected " << exp[i];
    }
  }
  return bad;
}

class ConformanceBase : public testing::TestWithParam<Case> {
 protected:
  std::string skip_reason_;

  void record(Summary& s) {
    const std::string& name = GetParam().name;
    if (IsSkipped()) s.skipped.push_back({name, skip_reason_});
    else if (HasFailure()) s.failed.push_back(name);
    else s.passed.push_back(name);
  }

  // The model file for `set`: the case's model.onnx, or for a _frozen / _consts
  // case a temporary copy (removed with the ModelFile) with those inputs of
  // `set` as initializers. path is empty after a failure.
  struct ModelFile {
    std::string path;
    bool temporary = false;
    ModelFile() = default;
    ModelFile(const ModelFile&) = delete;
    ModelFile& operator=(const ModelFile&) = delete;
    ~ModelFile() {
      std::error_code ec;
      if (temporary) fs::remove(path, ec);
    }
  };
  static void model_file(const Case& c, const fs::path& set, ModelFile* file) {
    const fs::path model = c.dir / "model.onnx";
    if (c.freeze == Freeze::kNone) {
      file->path = model.string();
      return;
    }
    onnx::ModelProto m;
    if (!parse_file(model, m)) {
      ADD_FAILURE() << "cannot parse " << model;
      return;
    }
    const std::set<size_t> frozen = frozen_inputs(c, m);
    const std::vector<onnx::TensorProto> ins = read_tensors(set, "input");
    std::set<std::string> inits;
    for (const auto& t : m.graph().initializer()) inits.insert(t.name());
    size_t pos = 0;
    for (const auto& in : m.graph().input()) {
      if (inits.count(in.name())) continue;
      if (frozen.count(pos)) {
        if (pos >= ins.size()) {
          ADD_FAILURE() << "no recorded value for input " << pos;
          return;
        }
        onnx::TensorProto* t = m.mutable_graph()->add_initializer();
        *t = ins[pos];
        t->set_name(in.name());
      }
      ++pos;
    }
    const fs::path out =
        fs::path(testing::TempDir()) / ("xsep_" + std::to_string(getpid()) + "_" + c.name + ".onnx");
    std::ofstream(out, std::ios::binary) << m.SerializeAsString();
    file->path = out.string();
    file->temporary = true;
  }

  // The recorded inputs of `set` the (frozen) model takes.
  static std::vector<onnx::TensorProto> fed_inputs(const Case& c, const fs::path& set) {
    std::vector<onnx::TensorProto> ins = read_tensors(set, "input");
    if (c.freeze == Freeze::kNone) return ins;
    onnx::ModelProto m;
    parse_file(c.dir / "model.onnx", m);
    const std::set<size_t> frozen = frozen_inputs(c, m);
    std::vector<onnx::TensorProto> rest;
    for (size_t i = 0; i < ins.size(); ++i)
      if (!frozen.count(i)) rest.push_back(ins[i]);
    return rest;
  }
};

// ---- The reference backend, through load_onnx + run_reference ------------------

class OnnxConformance : public ConformanceBase {
 protected:
  static Summary& summary() {
    static Summary s{"reference backend", {}, {}, {}};
    return s;
  }
  void TearDown() override { record(summary()); }
  static void TearDownTestSuite() {
    print_summary(summary());
    check_must_pass(summary());
  }

  // Loads the case's model for `set`. UNSUPPORTED -> skip; any other refusal -> failure.
  bool load(const Case& c, const fs::path& set, Graph& g) {
    ModelFile model;
    model_file(c, set, &model);
    if (model.path.empty()) return false;
    try {
      g = xsep::graph::load_onnx(model.path, 0);
      return true;
    } catch (const GraphError& e) {
      if (e.status == XSEP_STATUS_UNSUPPORTED) {
        skip_reason_ = e.what();
        return false;
      }
      ADD_FAILURE() << "load_onnx refused a valid ONNX test model with " << status_name(e.status) << ": "
                    << e.what();
      return false;
    }
  }
};

TEST_P(OnnxConformance, Case) {
  const Case& c = GetParam();
  ASSERT_NE(c.name, "testdata_missing") << c.dir << " does not exist: install the Debian package "
                                        << "libonnx-testdata or set XSEP_ONNX_NODE_TESTDATA";
  const std::vector<fs::path> sets = data_sets(c.dir);
  ASSERT_FALSE(sets.empty()) << "no test_data_set_* in " << c.dir;

  for (const fs::path& set : sets) {
    SCOPED_TRACE(set.filename().string());
    Graph g;
    if (!load(c, set, g)) {
      if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
      return;
    }
    const std::vector<onnx::TensorProto> ins = fed_inputs(c, set);
    const std::vector<onnx::TensorProto> outs = read_tensors(set, "output");
    ASSERT_EQ(ins.size(), g.inputs.size()) << "recorded inputs vs graph inputs";
    ASSERT_EQ(outs.size(), g.outputs.size()) << "recorded outputs vs graph outputs";

    std::vector<std::vector<float>> feed;
    for (size_t i = 0; i < ins.size(); ++i) {
      const xsep::graph::Value& v = g.value(g.inputs[i]);
      if (ins[i].data_type() != onnx::TensorProto::FLOAT) {
        skip_reason_ = "input '" + v.name + "' is not float32; run_reference feeds float32 only";
        GTEST_SKIP() << skip_reason_;
      }
      const std::vector<int64_t> dims(ins[i].dims().begin(), ins[i].dims().end());
      ASSERT_EQ(dims, v.shape) << "input '" << v.name << "': recorded " << dims_str(dims) << ", loaded "
                               << dims_str(v.shape);
      feed.push_back(floats_of(ins[i]));
    }

    std::vector<std::vector<float>> got;
    try {
      got = xsep::graph::run_reference(g, feed);
    } catch (const GraphError& e) {
      FAIL() << "run_reference: " << status_name(e.status) << ": " << e.what();
    }
    ASSERT_EQ(got.size(), outs.size());
    for (size_t o = 0; o < outs.size(); ++o) {
      const xsep::graph::Value& v = g.value(g.outputs[o]);
      ASSERT_EQ(outs[o].data_type(), onnx::TensorProto::FLOAT) << "output '" << v.name << "'";
      const std::vector<int64_t> dims(outs[o].dims().begin(), outs[o].dims().end());
      ASSERT_EQ(dims, v.shape) << "output '" << v.name << "': recorded " << dims_str(dims) << ", inferred "
                               << dims_str(v.shape);
      const std::vector<float> exp = floats_of(outs[o]);
      ASSERT_EQ(got[o].size(), exp.size()) << "output '" << v.name << "'";
      double max_diff = 0;
      const int bad = compare(v.name, got[o], exp, 1e-7, 1e-3, &max_diff);
      EXPECT_EQ(bad, 0) << "mismatching elements of output '" << v.name << "' (of " << exp.size()
                        << "), max |diff| " << max_diff;
    }
  }
}

// ---- The CUDA backend, through the C API ----------------------------------------------

struct GraphDeleter {
  void operator()(xsep_graph* g) const { xsep_graph_destroy(g); }
};
using GraphPtr = std::unique_ptr<xsep_graph, GraphDeleter>;

class OnnxConformanceCuda : public ConformanceBase {
 protected:
  static Summary& summary() {
    static Summary s{"cuda backend through the C API", {}, {}, {}};
    return s;
  }
  // Set once a load answers NO_DEVICE: every later case skips with it.
  static std::string& no_device() {
    static std::string reason;
    return reason;
  }
  void TearDown() override { record(summary()); }
  static void TearDownTestSuite() {
    Summary& s = summary();
    const char* layout = std::getenv("XSEP_CONFORMANCE_CUDA_LAYOUT");
    const char* dtype = std::getenv("XSEP_CONFORMANCE_CUDA_DTYPE");
    s.title += std::string(", ") + (dtype && std::string(dtype) == "f16" ? "F16" : "F32") + " " +
               (layout && std::string(layout) == "nhwc" ? "NHWC" : "NCHW");
    print_summary(s);
    if (no_device().empty()) check_must_pass(s);  // without a device every case skips
  }

  static xsep_graph_options options() {
    xsep_graph_options o;
    xsep_graph_default_options(&o);
    o.backend = XSEP_BACKEND_CUDA;
    o.batch = 0;  // the declared shapes
    const char* layout = std::getenv("XSEP_CONFORMANCE_CUDA_LAYOUT");
    if (layout && std::string(layout) == "nhwc") o.layout = XSEP_LAYOUT_NHWC;
    const char* dtype = std::getenv("XSEP_CONFORMANCE_CUDA_DTYPE");
    if (dtype && std::string(dtype) == "f16") o.dtype = XSEP_DTYPE_F16;
    return o;
  }
};

TEST_P(OnnxConformanceCuda, Case) {
  const Case& c = GetParam();
  ASSERT_NE(c.name, "testdata_missing") << c.dir << " does not exist: install the Debian package "
                                        << "libonnx-testdata or set XSEP_ONNX_NODE_TESTDATA";
  if (!no_device().empty()) {
    skip_reason_ = no_device();
    GTEST_SKIP() << skip_reason_;
  }
  const std::vector<fs::path> sets = data_sets(c.dir);
  ASSERT_FALSE(sets.empty()) << "no test_data_set_* in " << c.dir;
  const xsep_graph_options opt = options();
  const bool f16 = opt.dtype == XSEP_DTYPE_F16;

  for (const fs::path& set : sets) {
    SCOPED_TRACE(set.filename().string());
    xsep_graph* raw = nullptr;
    xsep_status s;
    {
      ModelFile model;
      model_file(c, set, &model);
      if (model.path.empty()) return;
      s = xsep_graph_load(model.path.c_str(), &opt, &raw);
    }
    GraphPtr g(raw);
    if (s == XSEP_STATUS_NO_DEVICE) {
      no_device() = std::string("no device: ") + xsep_last_error();
      skip_reason_ = no_device();
      GTEST_SKIP() << skip_reason_;
    }
    if (s == XSEP_STATUS_UNSUPPORTED) {
      skip_reason_ = xsep_last_error();
      GTEST_SKIP() << skip_reason_;
    }
    ASSERT_EQ(status_name(s), status_name(XSEP_STATUS_SUCCESS)) << "xsep_graph_load: " << xsep_last_error();
    ASSERT_NE(g, nullptr);

    const std::vector<onnx::TensorProto> ins = fed_inputs(c, set);
    const std::vector<onnx::TensorProto> outs = read_tensors(set, "output");
    ASSERT_EQ(ins.size(), static_cast<size_t>(xsep_graph_num_inputs(g.get()))) << "recorded inputs vs graph inputs";
    ASSERT_EQ(outs.size(), static_cast<size_t>(xsep_graph_num_outputs(g.get())))
        << "recorded outputs vs graph outputs";

    std::vector<std::vector<float>> feed;
    std::vector<const float*> in_ptrs;
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i].data_type() != onnx::TensorProto::FLOAT) {
        skip_reason_ = "input " + std::to_string(i) + " is not float32; xsep_graph_run feeds float32 only";
        GTEST_SKIP() << skip_reason_;
      }
      int32_t rank = 0;
      int64_t dims[8];
      ASSERT_EQ(status_name(xsep_graph_input_shape(g.get(), int32_t(i), &rank, dims)), "XSEP_STATUS_SUCCESS")
          << xsep_last_error();
      const std::vector<int64_t> recorded(ins[i].dims().begin(), ins[i].dims().end());
      ASSERT_EQ(recorded, std::vector<int64_t>(dims, dims + rank))
          << "input " << i << ": recorded " << dims_str(recorded);
      feed.push_back(floats_of(ins[i]));
    }
    for (const auto& f : feed) in_ptrs.push_back(f.data());

    std::vector<std::vector<float>> got(outs.size());
    std::vector<float*> out_ptrs;
    for (size_t o = 0; o < outs.size(); ++o) {
      ASSERT_EQ(outs[o].data_type(), onnx::TensorProto::FLOAT) << "output " << o;
      int32_t rank = 0;
      int64_t dims[8];
      ASSERT_EQ(status_name(xsep_graph_output_shape(g.get(), int32_t(o), &rank, dims)), "XSEP_STATUS_SUCCESS")
          << xsep_last_error();
      const std::vector<int64_t> recorded(outs[o].dims().begin(), outs[o].dims().end());
      ASSERT_EQ(recorded, std::vector<int64_t>(dims, dims + rank))
          << "output " << o << ": recorded " << dims_str(recorded);
      got[o].assign(floats_of(outs[o]).size(), NAN);
      out_ptrs.push_back(got[o].data());
    }
    const char* program = xsep_graph_summary(g.get());
    const xsep_status r = xsep_graph_run(g.get(), in_ptrs.data(), out_ptrs.data());
    ASSERT_EQ(status_name(r), status_name(XSEP_STATUS_SUCCESS))
        << "xsep_graph_run: " << xsep_last_error() << "\nthe fused program:\n" << program;

    for (size_t o = 0; o < outs.size(); ++o) {
      const std::vector<float> exp = floats_of(outs[o]);
      const std::string name = outs[o].name().empty() ? "#" + std::to_string(o) : outs[o].name();
      double max_diff = 0;
      const int bad = f16 ? compare(name, got[o], exp, 1e-2, 1e-2, &max_diff)
                          : compare(name, got[o], exp, 1e-7, 1e-3, &max_diff);
      EXPECT_EQ(bad, 0) << "mismatching elements of output '" << name << "' (of " << exp.size()
                        << "), max |diff| " << max_diff << "\nthe fused program:\n" << program;
    }
  }
}

std::string test_name(const testing::TestParamInfo<Case>& info) {
  std::string n = info.param.name;  // gtest names: [A-Za-z0-9_]
  for (char& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(, OnnxConformance, testing::ValuesIn(cases()), test_name);
INSTANTIATE_TEST_SUITE_P(, OnnxConformanceCuda, testing::ValuesIn(cases()), test_name);

}  // namespace
