// XSEP_LOG_LAUNCHES (launch.h): one line per launch on stderr.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "launch.h"

namespace xsep::kernels {

bool launch_log_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("XSEP_LOG_LAUNCHES");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void log_launch(const char* fmt, ...) {
  if (!launch_log_enabled()) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "xsep launch: %s\n", line);  // one call: lines from threads do not interleave
}

}  // namespace xsep::kernels
