// ONNX's own node tests (Debian package libonnx-testdata) through load_onnx and
// the reference backend: every case of a supported operator is loaded with the
// declared shapes, run on its recorded inputs and compared with its recorded
// outputs at ONNX's backend-test tolerance.
//   pass:  every output of every test_data_set_* matches;
//   skip:  load_onnx refuses the model as UNSUPPORTED (another operator, a
//          non-float type, a runtime shape input, ...), with the reason;
//   fail:  any other load or run error, or a mismatch.
// Cases whose int64 graph inputs (Reshape's shape, Split's split) make the
// loader refuse them also run as "<case>_frozen": those inputs, from the test
// data, become initializers, as a deployed model with static shapes has them.
// The summary (cases run, skipped with reasons, counts) is printed at the end.
// XSEP_ONNX_NODE_TESTDATA overrides the data directory.
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
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "graph/reference_backend.h"

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

struct Case {
  std::string name;  // the directory name, + "_frozen" for the variant
  fs::path dir;
  bool frozen = false;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  std::vector<Case> out;
  std::error_code ec;
  if (!fs::is_directory(data_dir(), ec)) return {{"testdata_missing", data_dir(), false}};
  for (const auto& e : fs::directory_iterator(data_dir(), ec)) {
    const std::string name = e.path().filename().string();
    const bool listed = std::any_of(std::begin(kPrefixes), std::end(kPrefixes),
                                    [&](const char* p) { return name.rfind(p, 0) == 0; });
    if (!listed || !fs::exists(e.path() / "model.onnx")) continue;
    out.push_back({name, e.path(), false});
    onnx::ModelProto m;
    if (parse_file(e.path() / "model.onnx", m) && !int64_inputs(m).empty())
      out.push_back({name + "_frozen", e.path(), true});
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

// The status's name, without needing libxsep for xsep_status_string.
std::string status_name(xsep_status s) {
  switch (s) {
    case XSEP_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case XSEP_STATUS_UNSUPPORTED: return "UNSUPPORTED";
    default: return "status " + std::to_string(static_cast<int>(s));
  }
}

struct Summary {
  std::vector<std::string> passed, failed;
  std::vector<std::pair<std::string, std::string>> skipped;  // name, reason
};
Summary& summary() {
  static Summary s;
  return s;
}

class OnnxConformance : public testing::TestWithParam<Case> {
 protected:
  std::string skip_reason_;

  void TearDown() override {
    const std::string& name = GetParam().name;
    if (IsSkipped()) summary().skipped.push_back({name, skip_reason_});
    else if (HasFailure()) summary().failed.push_back(name);
    else summary().passed.push_back(name);
  }

  static void TearDownTestSuite() {
    const Summary& s = summary();
    std::cout << "\n==== ONNX node conformance (reference backend) ====\nrun and passed:";
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
    std::cout << "\ncounts: " << s.passed.size() << " passed, " << s.skipped.size() << " skipped, "
              << s.failed.size() << " failed\n";
  }

  // Loads the case's model (with int64 inputs of `set` as initializers when
  // frozen). UNSUPPORTED -> skip; any other refusal -> failure.
  bool load(const Case& c, const fs::path& set, Graph& g) {
    fs::path model = c.dir / "model.onnx";
    if (c.frozen) {
      onnx::ModelProto m;
      if (!parse_file(model, m)) {
        ADD_FAILURE() << "cannot parse " << model;
        return false;
      }
      const std::set<size_t> frozen = int64_inputs(m);
      const std::vector<onnx::TensorProto> ins = read_tensors(set, "input");
      std::set<std::string> inits;
      for (const auto& t : m.graph().initializer()) inits.insert(t.name());
      size_t pos = 0;
      for (const auto& in : m.graph().input()) {
        if (inits.count(in.name())) continue;
        if (frozen.count(pos)) {
          if (pos >= ins.size()) {
            ADD_FAILURE() << "no recorded value for input " << pos;
            return false;
          }
          onnx::TensorProto* t = m.mutable_graph()->add_initializer();
          *t = ins[pos];
          t->set_name(in.name());
        }
        ++pos;
      }
      model = fs::path(testing::TempDir()) / ("xsep_" + c.name + ".onnx");
      std::ofstream(model, std::ios::binary) << m.SerializeAsString();
    }
    try {
      g = xsep::graph::load_onnx(model.string(), 0);
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

// Absolute and relative tolerance of ONNX's backend tests
// (onnx/backend/test/runner: rtol 1e-3, atol 1e-7), NaN equal to NaN.
bool close(float got, float exp) {
  if (std::isnan(got) || std::isnan(exp)) return std::isnan(got) && std::isnan(exp);
  if (std::isinf(exp)) return got == exp;
  return std::fabs(double{got} - exp) <= 1e-7 + 1e-3 * std::fabs(double{exp});
}

TEST_P(OnnxConformance, Case) {
  const Case& c = GetParam();
  ASSERT_NE(c.name, "testdata_missing") << c.dir << " does not exist: install the Debian package "
                                        << "libonnx-testdata or set XSEP_ONNX_NODE_TESTDATA";
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(c.dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  ASSERT_FALSE(sets.empty()) << "no test_data_set_* in " << c.dir;

  for (const fs::path& set : sets) {
    SCOPED_TRACE(set.filename().string());
    Graph g;
    if (!load(c, set, g)) {
      if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
      return;
    }
    std::vector<onnx::TensorProto> ins = read_tensors(set, "input");
    const std::vector<onnx::TensorProto> outs = read_tensors(set, "output");
    if (c.frozen) {  // the int64 inputs are initializers now; feed the others
      onnx::ModelProto m;
      parse_file(c.dir / "model.onnx", m);
      const std::set<size_t> frozen = int64_inputs(m);
      std::vector<onnx::TensorProto> rest;
      for (size_t i = 0; i < ins.size(); ++i)
        if (!frozen.count(i)) rest.push_back(ins[i]);
      ins = std::move(rest);
    }
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
      int bad = 0;
      for (size_t i = 0; i < exp.size(); ++i)
        if (!close(got[o][i], exp[i]) && ++bad <= 5)
          ADD_FAILURE() << "output '" << v.name << "' [" << i << "]: got " << got[o][i] << ", expected " << exp[i];
      EXPECT_EQ(bad, 0) << "mismatching elements of output '" << v.name << "' (of " << exp.size() << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(, OnnxConformance, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& info) {
                           std::string n = info.param.name;  // gtest names: [A-Za-z0-9_]
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
