// Device memory for tests, through the CUDA runtime API. The CUDA build links
// the real cudart; the emulated libxsep.so defines the same functions over host
// memory, so this code is the same for both builds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <vector>

namespace xsep_test {

#define XSEP_TEST_CUDA(call)                                                           \
  do {                                                                                 \
    cudaError_t e_ = (call);                                                           \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,               \
                   cudaGetErrorString(e_));                                            \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

// True when a kernel can run: always on the emulated device, and on a real
// GPU build when the runtime sees a device. Clears the runtime's error.
inline bool have_device() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { XSEP_TEST_CUDA(cudaMalloc(&ptr_, bytes ? bytes : 1)); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

  void upload(const void* src, size_t bytes) {
    XSEP_TEST_CUDA(cudaMemcpy(ptr_, src, bytes, cudaMemcpyHostToDevice));
  }
  template <class T>
  void upload(const std::vector<T>& v) { upload(v.data(), v.size() * sizeof(T)); }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> out(bytes_);
    XSEP_TEST_CUDA(cudaDeviceSynchronize());
    XSEP_TEST_CUDA(cudaMemcpy(out.data(), ptr_, bytes_, cudaMemcpyDeviceToHost));
    return out;
  }
  void fill_bytes(int value) { XSEP_TEST_CUDA(cudaMemset(ptr_, value, bytes_)); }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

}  // namespace xsep_test
