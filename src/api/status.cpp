// Version, status strings and the thread-local last-error message.
#include <cstdarg>
#include <cstdio>
#include <string>

#include "error.h"

namespace {
thread_local std::string g_last_error;
}

namespace xsep::detail {

xsep_status fail(xsep_status status, const char* fn, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  g_last_error = std::string(fn) + ": " + buf;
  return status;
}

}  // namespace xsep::detail

extern "C" {

int xsep_version(void) {
  return XSEP_VERSION_MAJOR * 10000 + XSEP_VERSION_MINOR * 100 + XSEP_VERSION_PATCH;
}

const char* xsep_status_string(xsep_status status) {
  // Switch on the integer: a caller may pass any value through the C ABI.
  switch (static_cast<int>(status)) {
    case XSEP_STATUS_SUCCESS: return "XSEP_STATUS_SUCCESS";
    case XSEP_STATUS_INVALID_ARGUMENT: return "XSEP_STATUS_INVALID_ARGUMENT";
    case XSEP_STATUS_UNSUPPORTED: return "XSEP_STATUS_UNSUPPORTED";
    case XSEP_STATUS_OUT_OF_MEMORY: return "XSEP_STATUS_OUT_OF_MEMORY";
    case XSEP_STATUS_DEVICE_ERROR: return "XSEP_STATUS_DEVICE_ERROR";
    case XSEP_STATUS_NO_DEVICE: return "XSEP_STATUS_NO_DEVICE";
  }
  return "unknown status";
}

const char* xsep_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
