/* Out-of-range option enums through xsep_graph_load (graph_bad_options.h).
 * Plain C11 on purpose: converting any int to an enum type is well defined
 * here, and compiling this file also proves xsep/graph.h is valid C11. */
#include "graph_bad_options.h"

xsep_status xsep_test_graph_load_raw(const char* path, int backend, int dtype, int layout, int64_t batch,
                                     xsep_graph** graph) {
  xsep_graph_options options;
  xsep_graph_default_options(&options);
  options.backend = (xsep_backend)backend;
  options.dtype = (xsep_dtype)dtype;
  options.layout = (xsep_layout)layout;
  options.batch = batch;
  return xsep_graph_load(path, &options, graph);
}
