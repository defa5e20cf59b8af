// Byte-level corruption of a model file: what xsep_graph_load does with the
// bytes a broken download, a disk error or a bad converter leaves behind.
// python_ref/tests/test_mutated_models.py mutates the networks' structure
// (valid protobuf, wrong content); this mutates the bytes under protobuf: bit
// flips, bytes set to edge values (0, 1, 0x7f, 0x80, 0xff), little-endian
// int32 edge values written over four bytes, ranges deleted, duplicated or
// inserted, truncation. The base model is one MobileNetV3-style block that
// reaches the fused kernels (1x1 conv + BN + HardSwish; the SYMMETRIC 2x2 as
// Split -> four 2x2 -> Concat, 1xK and Kx1 at stride 2, each with BN and an
// activation; an SE block, a residual Add of a strided 3x3 depthwise branch,
// pooling and a Gemm head).
//
// For every mutant and both backends (ctest model_bytes; CI runs it under
// ASan+UBSan, so an out-of-bounds read or a leak fails it too):
//   - a refusal is INVALID_ARGUMENT, UNSUPPORTED or OUT_OF_MEMORY, with *graph
//     NULL and a one-line message led by "xsep_graph_load" (a corrupted
//     name's control bytes written as \xNN);
//   - a model both backends load has the same input and output shapes on both,
//     runs, and the cuda backend matches the reference backend where the
//     mutant's weights stayed tame (finite, |w| <= 1e3: beyond that, the two
//     backends' different but valid summation orders may legitimately turn
//     inf - inf into NaN on one side only).
// XSEP_FUZZ_SEED=N draws another set; XSEP_TEST_VERBOSE=1 prints each mutant's
// outcome.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "model_builder.h"
#include "model_file_test.h"

namespace {

using namespace xsep_test;

constexpr int kMutants = 1000;

// ---- The base model ---------------------------------------------------------------

void add_bn(onnx::ModelProto& m, const std::string& name, const std::string& in, const std::string& out, int64_t c,
            uint32_t seed) {
  std::vector<float> var = values(size_t(c), seed + 3);
  for (float& v : var) v = 0.5f + std::fabs(v);  // positive variances
  add_initializer(m, name + ".scale", {c}, values(size_t(c), seed));
  add_initializer(m, name + ".bias", {c}, values(size_t(c), seed + 1));
  add_initializer(m, name + ".mean", {c}, values(size_t(c), seed + 2));
  add_initializer(m, name + ".var", {c}, var);
  add_node(m, "BatchNormalization", name, {in, name + ".scale", name + ".bias", name + ".mean", name + ".var"},
           {out});
}

// A conv with weights [co, ci/group, kh, kw] seeded by `seed`, optional bias.
onnx::NodeProto* add_conv(onnx::ModelProto& m, const std::string& name, const std::string& in,
                          const std::string& out, int64_t co, int64_t ci_per_group, int64_t kh, int64_t kw,
                          int64_t group, const std::vector<int64_t>& pads, const std::vector<int64_t>& strides, bool bias,
                          uint32_t seed) {
  add_initializer(m, name + ".w", {co, ci_per_group, kh, kw}, values(size_t(co * ci_per_group * kh * kw), seed));
  std::vector<std::string> ins = {in, name + ".w"};
  if (bias) {
    add_initializer(m, name + ".b", {co}, values(size_t(co), seed + 1));
    ins.push_back(name + ".b");
  }
  onnx::NodeProto* n = add_node(m, "Conv", name, ins, {out});
  attr_ints(n, "kernel_shape", {kh, kw});
  attr_ints(n, "pads", pads);
  attr_ints(n, "strides", strides);
  if (group != 1) attr_int(n, "group", group);
  return n;
}

// x [1,8,10,10] -> one MobileNetV3-style block with an XSepConv (K = 5,
// stride 2) -> y [1,10]. Every operator of the fused paths appears once.
onnx::ModelProto block_model() {
  constexpr int64_t C = 8, E = 16;
  onnx::ModelProto m = new_model(14);  // HardSwish
  add_input(m, "x", {1, C, 10, 10});
  // Expansion: 1x1 conv + BN + HardSwish.
  add_conv(m, "expand", "x", "e0", E, C, 1, 1, 1, {0, 0, 0, 0}, {1, 1}, false, 10);
  add_bn(m, "expand.bn", "e0", "e1", E, 20);
  add_node(m, "HardSwish", "expand.act", {"e1"}, {"a"});
  // The SYMMETRIC 2x2: four groups of 4 channels, padded towards bottom-right,
  // top-left, bottom-left, top-right ([top, left, bottom, right]).
  auto* split_sizes = m.mutable_graph()->add_initializer();
  split_sizes->set_name("split.sizes");
  split_sizes->set_data_type(onnx::TensorProto::INT64);
  split_sizes->add_dims(4);
  for (int i = 0; i < 4; ++i) split_sizes->add_int64_data(E / 4);
  attr_int(add_node(m, "Split", "split", {"a", "split.sizes"}, {"s0", "s1", "s2", "s3"}), "axis", 1);
  const std::vector<std::vector<int64_t>> pads2x2 = {{0, 0, 1, 1}, {1, 1, 0, 0}, {0, 1, 1, 0}, {1, 0, 0, 1}};
  for (int i = 0; i < 4; ++i) {
    const std::string s = std::to_string(i);
    add_conv(m, "dw2x2." + s, "s" + s, "d" + s, E / 4, 1, 2, 2, E / 4, pads2x2[i], {1, 1}, true, 30 + 2 * i);
  }
  attr_int(add_node(m, "Concat", "concat", {"d0", "d1", "d2", "d3"}, {"b0"}), "axis", 1);
  add_bn(m, "dw2x2.bn", "b0", "b1", E, 35);
  add_node(m, "Relu", "dw2x2.act", {"b1"}, {"b"});
  // 1x5 (stride 2 along W) + BN + HardSwish, 5x1 (stride 2 along H) + BN + ReLU6 (Clip).
  add_conv(m, "dw1x5", "b", "c0", E, 1, 1, 5, E, {0, 2, 0, 2}, {1, 2}, false, 40);
  add_bn(m, "dw1x5.bn", "c0", "c1", E, 42);
  add_node(m, "HardSwish", "dw1x5.act", {"c1"}, {"c"});
  add_conv(m, "dw5x1", "c", "d0x", E, 1, 5, 1, E, {2, 0, 2, 0}, {2, 1}, true, 50);
  add_bn(m, "dw5x1.bn", "d0x", "d1x", E, 52);
  add_initializer(m, "clip.min", {}, {0.f});
  add_initializer(m, "clip.max", {}, {6.f});
  add_node(m, "Clip", "dw5x1.act", {"d1x", "clip.min", "clip.max"}, {"d"});
  // Squeeze-and-excite on d [1,16,5,5].
  add_node(m, "GlobalAveragePool", "se.pool", {"d"}, {"p"});
  add_conv(m, "se.fc1", "p", "q0", 4, E, 1, 1, 1, {0, 0, 0, 0}, {1, 1}, true, 60);
  add_node(m, "Relu", "se.relu", {"q0"}, {"q"});
  add_conv(m, "se.fc2", "q", "r0", E, 4, 1, 1, 1, {0, 0, 0, 0}, {1, 1}, true, 62);
  add_node(m, "HardSigmoid", "se.gate", {"r0"}, {"r"});
  add_node(m, "Mul", "se.scale", {"d", "r"}, {"sd"});
  // Projection 1x1 + BN, plus a strided 3x3 depthwise branch of x.
  add_conv(m, "project", "sd", "f0", C, E, 1, 1, 1, {0, 0, 0, 0}, {1, 1}, false, 70);
  add_bn(m, "project.bn", "f0", "f", C, 80);
  add_conv(m, "shortcut", "x", "g", C, 1, 3, 3, C, {1, 1, 1, 1}, {2, 2}, false, 90);
  add_node(m, "Add", "residual", {"f", "g"}, {"h"});
  // Head: pool, flatten, Gemm 8 -> 10.
  add_node(m, "GlobalAveragePool", "pool", {"h"}, {"hp"});
  attr_int(add_node(m, "Flatten", "flatten", {"hp"}, {"hf"}), "axis", 1);
  add_initializer(m, "fc.w", {10, C}, values(10 * C, 100));
  add_initializer(m, "fc.b", {10}, values(10, 101));
  attr_int(add_node(m, "Gemm", "fc", {"hf", "fc.w", "fc.b"}, {"y"}), "transB", 1);
  add_output(m, "y", {1, 10});
  return m;
}

// ---- Mutations --------------------------------------------------------------------

// One byte-level edit of `b` (never empty afterwards), described in *what.
void mutate_once(std::string& b, std::mt19937& rng, std::string* what) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  static const unsigned char kEdgeBytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x10, 0x12};
  static const int32_t kEdgeInts[] = {0, -1, 1, 0x7fffffff, int32_t(0x80000000u), 0x10000, 255, -256};
  const size_t at = pick(b.size());
  // In-place edits three times in four: they keep protobuf's framing (lengths,
  // tags) intact more often, so more mutants get past the parser to the
  // checker, the shape inference and the lowering.
  const unsigned kind = rng() % 4 != 0 ? rng() % 3 : 3 + rng() % 4;
  switch (kind) {
    case 0:
      b[at] = static_cast<char>(b[at] ^ (1u << (rng() % 8)));
      *what += " flip@" + std::to_string(at);
      break;
    case 1:
      b[at] = static_cast<char>(kEdgeBytes[pick(sizeof kEdgeBytes)]);
      *what += " byte@" + std::to_string(at);
      break;
    case 2: {
      const int32_t v = kEdgeInts[pick(sizeof kEdgeInts / sizeof kEdgeInts[0])];
      const size_t n = std::min<size_t>(4, b.size() - at);
      std::memcpy(&b[at], &v, n);  // little-endian, as ONNX's raw_data
      *what += " int32@" + std::to_string(at);
      break;
    }
    case 3: {
      const size_t n = std::min<size_t>(1 + pick(16), b.size() - at);
      if (b.size() - n >= 1) b.erase(at, n);
      *what += " delete" + std::to_string(n) + "@" + std::to_string(at);
      break;
    }
    case 4: {
      const size_t n = std::min<size_t>(1 + pick(32), b.size() - at);
      b.insert(at, b.substr(at, n));
      *what += " dup" + std::to_string(n) + "@" + std::to_string(at);
      break;
    }
    case 5: {
      std::string noise(1 + pick(8), '\0');
      for (char& ch : noise) ch = static_cast<char>(rng());
      b.insert(at, noise);
      *what += " insert" + std::to_string(noise.size()) + "@" + std::to_string(at);
      break;
    }
    default:
      b.resize(std::max<size_t>(1, at));
      *what += " truncate@" + std::to_string(b.size());
      break;
  }
}

// Whether every float of every initializer (and Constant) is finite with
// |w| <= 1e3, so that the backends must agree to float32 rounding. False for
// bytes protobuf cannot parse.
bool weights_tame(const std::string& bytes) {
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) return false;
  auto tame = [](const onnx::TensorProto& t) {
    if (t.data_type() != onnx::TensorProto::FLOAT) return true;
    std::vector<float> f(t.float_data().begin(), t.float_data().end());
    if (t.has_raw_data()) {
      f.resize(t.raw_data().size() / 4);
      std::memcpy(f.data(), t.raw_data().data(), f.size() * 4);
    }
    return std::all_of(f.begin(), f.end(), [](float v) { return std::isfinite(v) && std::fabs(v) <= 1e3f; });
  };
  for (const auto& t : m.graph().initializer())
    if (!tame(t)) return false;
  for (const auto& n : m.graph().node())
    for (const auto& a : n.attribute()) {
      if (a.has_t() && !tame(a.t())) return false;
      if (a.type() == onnx::AttributeProto::FLOAT && (!std::isfinite(a.f()) || std::fabs(a.f()) > 1e3f))
        return false;
    }
  return true;
}

// ---- The test ---------------------------------------------------------------------

class ModelBytes : public ModelFileTest {
 protected:
  // Loads `path` on `backend`; a refusal must be one of the allowed statuses
  // with NULL *graph and a one-line message. Returns the graph or NULL.
  xsep_graph* load(const std::string& path, xsep_backend backend, const std::string& what, std::string* outcome) {
    const xsep_graph_options o = options(backend);
    xsep_graph* sentinel = reinterpret_cast<xsep_graph*>(uintptr_t{0x10});
    xsep_graph* g = sentinel;
    const xsep_status s = xsep_graph_load(path.c_str(), &o, &g);
    *outcome += std::string(" ") + backend_name(backend) + ":" + (s == XSEP_STATUS_SUCCESS ? "loads" : status_name(s));
    if (s == XSEP_STATUS_SUCCESS) {
      EXPECT_NE(g, nullptr) << what;
      return g == sentinel ? nullptr : g;
    }
    const std::string err = xsep_last_error() ? xsep_last_error() : "";
    *outcome += " (" + err.substr(0, 160) + ")";
    EXPECT_TRUE(s == XSEP_STATUS_INVALID_ARGUMENT || s == XSEP_STATUS_UNSUPPORTED ||
                s == XSEP_STATUS_OUT_OF_MEMORY || (s == XSEP_STATUS_NO_DEVICE && backend == XSEP_BACKEND_CUDA))
        << what << ": " << status_name(s) << ": " << err;
    EXPECT_EQ(g, nullptr) << what << ": *graph must be NULL after a failed load";
    EXPECT_EQ(err.rfind("xsep_graph_load", 0), 0u) << what << ": " << err;
    EXPECT_TRUE(std::none_of(err.begin(), err.end(), [](char c) { return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7f; }))
        << what << ": the error must be one line without control bytes: " << err;
    return nullptr;
  }
};

TEST_F(ModelBytes, BaseModelFusesAndBackendsAgree) {
  const std::string path = write("block.onnx", block_model());
  std::vector<std::vector<float>> want, got;
  ASSERT_TRUE(run_seeded(path, XSEP_BACKEND_REFERENCE, XSEP_LAYOUT_NCHW, 7, &want));
  if (!run_seeded(path, XSEP_BACKEND_CUDA, XSEP_LAYOUT_NCHW, 7, &got)) GTEST_SKIP() << "no CUDA device";
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(got[0][i], want[0][i], 1e-5 * (1 + std::fabs(want[0][i]))) << i;
  // The mutants start from a model that reaches the fused kernels.
  const xsep_graph_options o = options(XSEP_BACKEND_CUDA);
  xsep_graph* g = nullptr;
  ASSERT_EQ(xsep_graph_load(path.c_str(), &o, &g), XSEP_STATUS_SUCCESS) << xsep_last_error();
  const std::string summary = xsep_graph_summary(g);
  xsep_graph_destroy(g);
  for (const char* step : {"XSepConv K=5 s2 SYM", "depthwise 3x3 s2", "SE fc", "Gemm"})
    EXPECT_NE(summary.find(step), std::string::npos) << "no '" << step << "' step in:\n" << summary;
}

TEST_F(ModelBytes, MutantsAreRefusedOrRunAlike) {
  std::string base;
  ASSERT_TRUE(block_model().SerializeToString(&base));
  {
    // The base model loads (the cuda backend needs a device, the emulated one
    // in an emu build; a CUDA build without a GPU checks the reference only).
    std::string outcome;
    for (xsep_backend b : kBackends) xsep_graph_destroy(load(write_bytes("base.onnx", base), b, "base", &outcome));
#if defined(XSEP_TESTS_EMU)
    const bool ok = outcome == " reference:loads cuda:loads";
#else
    const bool ok = outcome == " reference:loads cuda:loads" ||
                    outcome.rfind(" reference:loads cuda:XSEP_STATUS_NO_DEVICE", 0) == 0;
#endif
    ASSERT_TRUE(ok) << "the base model must load: " << outcome;
  }
  const char* env = std::getenv("XSEP_FUZZ_SEED");
  const uint32_t seed = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20261129u;
  const bool verbose = std::getenv("XSEP_TEST_VERBOSE") != nullptr;
  std::mt19937 rng(seed);
  int loaded[2] = {0, 0}, compared = 0;
  for (int i = 0; i < kMutants; ++i) {
    std::string bytes = base, what = "mutant " + std::to_string(i) + " (seed " + std::to_string(seed) + "):";
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) mutate_once(bytes, rng, &what);
    SCOPED_TRACE(what);
    const std::string path = write_bytes("mutant.onnx", bytes);
    std::string outcome;
    xsep_graph* g[2] = {load(path, XSEP_BACKEND_REFERENCE, what, &outcome),
                        load(path, XSEP_BACKEND_CUDA, what, &outcome)};
    std::vector<std::vector<float>> out[2];
    bool ran[2] = {false, false};
    for (int b = 0; b < 2; ++b) {
      if (!g[b]) continue;
      ++loaded[b];
      // A mutated dimension may ask for a large tensor; loading it is the point,
      // running it is not (the limit keeps a run to milliseconds).
      bool small = true;
      for (bool o : {false, true})
        for (const auto& s : io_shapes(g[b], o)) small = small && numel(s) <= (size_t{1} << 18);
      if (small) ran[b] = run_graph(g[b], 5, &out[b]);
    }
    if (g[0] && g[1]) {
      EXPECT_EQ(io_shapes(g[0], false), io_shapes(g[1], false)) << "input shapes differ between the backends";
      EXPECT_EQ(io_shapes(g[0], true), io_shapes(g[1], true)) << "output shapes differ between the backends";
    }
    if (ran[0] && ran[1] && weights_tame(bytes) && out[0].size() == out[1].size()) {
      ++compared;
      outcome += " compared";
      for (size_t o = 0; o < out[0].size() && o < out[1].size(); ++o) {
        ASSERT_EQ(out[0][o].size(), out[1][o].size());
        double scale = 1;
        for (float v : out[0][o]) scale = std::max(scale, double(std::fabs(v)));
        for (size_t k = 0; k < out[0][o].size(); ++k) {
          const float want = out[0][o][k], got = out[1][o][k];
          if (std::isnan(want) || std::isnan(got)) {
            EXPECT_EQ(std::isnan(want), std::isnan(got)) << "output " << o << "[" << k << "]: " << got << " vs " << want;
            continue;
          }
          EXPECT_NEAR(got, want, 1e-4 * scale) << "output " << o << "[" << k << "]";
        }
      }
    }
    for (xsep_graph* x : g) xsep_graph_destroy(x);
    if (verbose) std::cout << "[ MUTANT   ] " << what << outcome << '\n';
    if (HasFatalFailure()) return;
  }
  // Most edits land in the weights' raw_data (most of the file's bytes), which
  // keeps the model loadable: a test where next to nothing loads would be
  // about protobuf's parser only.
  EXPECT_GE(loaded[0], kMutants / 5) << "too few mutants load to compare the backends";
  std::cout << "[ MUTANTS  ] " << kMutants << " mutants (seed " << seed << "): " << loaded[0]
            << " load on the reference backend, " << loaded[1] << " on the cuda backend, " << compared
            << " compared\n";
}

}  // namespace
