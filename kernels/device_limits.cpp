// current_device_limits (device_limits.h): four attribute queries per device,
// cached, because every launch asks.
#include "device_limits.h"

#include <map>
#include <mutex>

#if defined(XSEP_EMU)
#include <cuda_runtime_api.h>  // declarations only; the emulator defines them
#else
#include <cuda_runtime.h>
#endif

namespace xsep::kernels {

int current_device_limits(DeviceLimits* out) {
  // Never destroyed: a launch during static destruction still finds them.
  static std::mutex* const mutex = new std::mutex;
  static auto* const known = new std::map<int, DeviceLimits>;
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device)) return static_cast<int>(e);
  std::lock_guard<std::mutex> lock(*mutex);
  if (auto it = known->find(device); it != known->end()) {
    *out = it->second;
    return 0;
  }
  int optin = 0, per_sm = 0, reserved = 0, sms = 0;
  for (auto [attr, value] : {std::pair{cudaDevAttrMaxSharedMemoryPerBlockOptin, &optin},
                             std::pair{cudaDevAttrMaxSharedMemoryPerMultiprocessor, &per_sm},
                             std::pair{cudaDevAttrReservedSharedMemoryPerBlock, &reserved},
                             std::pair{cudaDevAttrMultiProcessorCount, &sms}}) {
    if (cudaError_t e = cudaDeviceGetAttribute(value, attr, device)) return static_cast<int>(e);
  }
  DeviceLimits l{size_t(optin), size_t(per_sm), size_t(reserved), sms > 0 ? sms : 1};
  known->emplace(device, l);
  *out = l;
  return 0;
}

}  // namespace xsep::kernels
