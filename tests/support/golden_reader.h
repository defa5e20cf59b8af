// Reader for the golden vector files of python_ref/GOLDEN_FORMAT.md (version 1),
// written by python_ref/goldens.py from the float64 numpy reference. Strict: any
// deviation from the format is an error, so a stale or truncated set cannot pass.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace xsep_test {

struct GoldenEpilogue {
  int act = 0;               // the C enum value, checked to be 0..3
  std::vector<float> scale;  // C values, or empty (scale 1)
  std::vector<float> bias;   // C values, or empty (bias 0)
};

struct GoldenCase {
  std::string name;    // the file name without directory and ".txt"
  std::string op;      // dwconv2x2, dwconv1xk, dwconvkx1, dwconvkxk, xsepconv
  std::string dtype;   // f32, f16
  std::string layout;  // nchw, nhwc
  int64_t shape[4] = {0, 0, 0, 0};      // N C H W whatever the layout
  int64_t out_shape[4] = {0, 0, 0, 0};  // N C H W
  int k = 0, stride = 0;
  int pad = 0;  // the C enum value, checked to be 0..4
  std::map<std::string, GoldenEpilogue> epilogues;  // "ep", or "ep2x2"/"ep1xk"/"epkx1"
  // Every tensor of the file by name: x, w (or w2x2, w1xk, wkx1), <ep>.scale,
  // <ep>.bias, y. Counts are checked against the header.
  std::map<std::string, std::vector<double>> tensors;
};

// Reads one case file. On failure returns false and sets *error to
// "<path>:<line>: <what is wrong>".
bool read_golden(const std::string& path, GoldenCase* out, std::string* error);

// The case file names listed in dir/index.txt (e.g. "xsepconv_f16_nhwc_k7_s2_sym_0.txt"),
// in order; empty if the index is missing or lists nothing.
std::vector<std::string> read_index(const std::string& dir);

}  // namespace xsep_test
