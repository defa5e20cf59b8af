// Minimal .npy (NumPy format 1.0/2.0) reading and writing for float32 arrays:
// what xsep-run needs for --input / --output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xsep_app {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order
};

// Throws std::runtime_error with a readable message on anything but a
// little-endian float32 C-order array (float64 is converted).
NpyArray read_npy(const std::string& path);
void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace xsep_app
