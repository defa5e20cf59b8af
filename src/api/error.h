// Internal error plumbing shared by every entry point of the library: the
// thread-local message behind xsep_last_error() and a printf-style setter.
#pragma once

#include "xsep/xsep.h"

namespace xsep::detail {

// Records "<fn>: <formatted message>" as this thread's last error and returns
// `status`, so a check reads `return fail(s, fn, "...", ...);`.
// Exported (default visibility) for libxsep_graph.so, which reports through
// the same thread-local message.
__attribute__((visibility("default"))) xsep_status fail(xsep_status status, const char* fn,
                                                        const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace xsep::detail
