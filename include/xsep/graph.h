/* xsep graph runner: loads an ONNX model (MobileNetV3-Small and its XSepConv
 * variants, and anything else made of the supported operators), fuses it and
 * runs it with the xsep kernels (backend CUDA) or with the naive CPU
 * implementation of every operator (backend REFERENCE, the oracle).
 * Plain C; link xsep::graph.
 *
 * A graph belongs to the device current at load; run, time and destroy make it
 * current for the call and restore the caller's. Calls on one graph from
 * several threads are serialised, except destroy, which must not overlap any
 * other call on that graph; different graphs are independent. Load,
 * run, time and destroy switch this thread to the Relaxed stream-capture mode for
 * the call, so they work during a caller's cudaStreamCaptureModeGlobal
 * capture without invalidating it. */
#ifndef XSEP_GRAPH_H_
#define XSEP_GRAPH_H_

#include "xsep/xsep.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsep_graph xsep_graph; /* opaque */

typedef enum xsep_backend {
  XSEP_BACKEND_CUDA = 0,     /* xsep kernels on the GPU (host threads in an XSEP_DEVICE=emu build) */
  XSEP_BACKEND_REFERENCE = 1 /* naive CPU loops, float32 storage, double accumulation */
} xsep_backend;

typedef struct xsep_graph_options {
  xsep_backend backend;
  xsep_dtype dtype;   /* activations on the CUDA backend (float32 accumulation); REFERENCE: F32 only */
  xsep_layout layout; /* activations on the CUDA backend; REFERENCE: NCHW only */
  int64_t batch;      /* the first dimension of every graph input; 0 keeps the declared size
                         (a symbolic batch becomes 1) */
} xsep_graph_options;

/* backend CUDA, F32, NCHW, batch 1. */
XSEP_API void xsep_graph_default_options(xsep_graph_options* options);

/* Loads, checks, shape-infers (for options->batch), fuses and plans the model
 * (options == NULL: xsep_graph_default_options'):
 * weights are uploaded once and all activation memory is allocated here.
 * Errors: INVALID_ARGUMENT (unreadable or malformed file, shape mismatch, ...),
 * UNSUPPORTED (an operator, attribute or type the runner does not provide; the
 * message names the node), NO_DEVICE / OUT_OF_MEMORY / DEVICE_ERROR. */
XSEP_API xsep_status xsep_graph_load(const char* onnx_path, const xsep_graph_options* options,
                                     xsep_graph** graph);
XSEP_API void xsep_graph_destroy(xsep_graph* graph);

XSEP_API int32_t xsep_graph_num_inputs(const xsep_graph* graph);
XSEP_API int32_t xsep_graph_num_outputs(const xsep_graph* graph);
/* rank (<= 8: load refuses more) and dims of input / output `index`, in ONNX order (NCHW). */
XSEP_API xsep_status xsep_graph_input_shape(const xsep_graph* graph, int32_t index, int32_t* rank,
                                            int64_t dims[8]);
XSEP_API xsep_status xsep_graph_output_shape(const xsep_graph* graph, int32_t index, int32_t* rank,
                                             int64_t dims[8]);

/* Runs the model once, synchronously (on the graph's own stream; it cannot be
 * captured into the caller's CUDA graph). inputs[i] / outputs[i]: host float32
 * arrays, row-major in the ONNX shape, whatever the backend's dtype/layout. */
XSEP_API xsep_status xsep_graph_run(xsep_graph* graph, const float* const* inputs,
                                    float* const* outputs);

/* Replays the forward pass `iters` times on the inputs of the last run,
 * without host transfers, writing each pass's wall time (ms) to ms[i]. */
XSEP_API xsep_status xsep_graph_time(xsep_graph* graph, int32_t iters, double* ms);

/* The model after fusion: one line per executed step (operator, shapes), then
 * the parameter count and multiply-accumulates per batch; with the REFERENCE
 * backend, one line per (unfused) ONNX node. Valid until destroy. */
XSEP_API const char* xsep_graph_summary(const xsep_graph* graph);

#ifdef __cplusplus
}
#endif

#endif /* XSEP_GRAPH_H_ */
