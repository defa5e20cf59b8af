// .npy reading and writing (npy.h). Format: magic "\x93NUMPY", version, header
// length, a Python-dict header ('descr', 'fortran_order', 'shape'), raw data.
#include "npy.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace xsep_app {

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open '" + path + "'");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw std::runtime_error("'" + path + "' is not a .npy file");
  if (magic[6] < 1 || magic[6] > 3)
    throw std::runtime_error("'" + path + "': .npy format version " + std::to_string(int(magic[6])) +
                             " is not one of 1, 2, 3");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    uint16_t h;
    f.read(reinterpret_cast<char*>(&h), 2);
    header_len = h;
  } else {
    f.read(reinterpret_cast<char*>(&header_len), 4);
  }
  if (header_len > (1u << 20))
    throw std::runtime_error("'" + path + "': a header of " + std::to_string(header_len) + " bytes is not a .npy header");
  std::string header(header_len, '\0');
  if (!f.read(header.data(), header_len)) throw std::runtime_error("'" + path + "': truncated header");
  auto field = [&](const std::string& key) {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) throw std::runtime_error("'" + path + "': header lacks '" + key + "'");
    return header.substr(header.find(':', k) + 1);
  };
  const std::string descr = field("descr");
  const bool f32 = descr.find("'<f4'") != std::string::npos, f64 = descr.find("'<f8'") != std::string::npos;
  if (!f32 && !f64) throw std::runtime_error("'" + path + "': only little-endian float32/float64 arrays are supported");
  if (field("fortran_order").find("True") < field("fortran_order").find(','))
    throw std::runtime_error("'" + path + "': Fortran-order arrays are not supported");
  const std::string shape_text = field("shape");
  NpyArray a;
  const size_t open = shape_text.find('('), close = shape_text.find(')');
  if (open == std::string::npos || close == std::string::npos || close < open)
    throw std::runtime_error("'" + path + "': the header's shape is not a tuple");
  std::string dims = shape_text.substr(open + 1, close - open - 1);
  int64_t count = 1;
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string tok = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (tok.find_first_not_of(" \t") != std::string::npos) {
      char* end = nullptr;
      const long long d = std::strtoll(tok.c_str(), &end, 10);
      if (end == tok.c_str() || tok.find_first_not_of(" \t", size_t(end - tok.c_str())) != std::string::npos)
        throw std::runtime_error("'" + path + "': shape entry '" + tok + "' is not an integer");
      if (d < 0) throw std::runtime_error("'" + path + "': negative dimension " + std::to_string(d));
      a.shape.push_back(d);
      if (__builtin_mul_overflow(count, static_cast<int64_t>(d), &count) || count > INT32_MAX)
        throw std::runtime_error("'" + path + "': the shape holds more than 2^31-1 elements");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // The data must be there before anything is allocated for it.
  const std::streampos data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const int64_t available = static_cast<int64_t>(f.tellg() - data_start);
  f.seekg(data_start);
  if (available < count * (f32 ? 4 : 8))
    throw std::runtime_error("'" + path + "': truncated data (" + std::to_string(count * (f32 ? 4 : 8)) +
                             " bytes needed, " + std::to_string(available) + " present)");
  a.data.resize(static_cast<size_t>(count));
  if (f32) {
    if (!f.read(reinterpret_cast<char*>(a.data.data()), count * 4))
      throw std::runtime_error("'" + path + "': truncated data");
  } else {
    std::vector<double> d(static_cast<size_t>(count));
    if (!f.read(reinterpret_cast<char*>(d.data()), count * 8)) throw std::runtime_error("'" + path + "': truncated data");
    for (int64_t i = 0; i < count; ++i) a.data[i] = static_cast<float>(d[i]);
  }
  return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dims;
  int64_t count = 1;
  for (int64_t d : shape) dims += std::to_string(d) + ",", count *= d;
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';  // data 64-byte aligned
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write '" + path + "'");
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char*>(&len), 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data), count * 4);
  if (!f) throw std::runtime_error("writing '" + path + "' failed");
}

}  // namespace xsep_app
