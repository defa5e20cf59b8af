/* xsep_graph_load with option enums outside their enumerators
 * (graph_bad_options.c). In C such values are well defined; in C++ loading them
 * would be undefined behaviour, so test_bad_calls.cpp passes plain ints here. */
#ifndef XSEP_TESTS_GRAPH_BAD_OPTIONS_H_
#define XSEP_TESTS_GRAPH_BAD_OPTIONS_H_

#include "xsep/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* xsep_graph_load(path, &options, graph) with options = {backend, dtype,
 * layout, batch} stored as raw ints. */
xsep_status xsep_test_graph_load_raw(const char* path, int backend, int dtype, int layout, int64_t batch,
                                     xsep_graph** graph);

#ifdef __cplusplus
}
#endif

#endif /* XSEP_TESTS_GRAPH_BAD_OPTIONS_H_ */
