/* Links the installed libxsep_graph.so from plain C and runs ONNX's
 * GlobalAveragePool node test model (path in argv[1]) on the reference
 * backend, checking the output against the mean computed here. Needs no GPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <xsep/graph.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: graph_consumer test_globalaveragepool/model.onnx\n");
    return 2;
  }
  xsep_graph_options o;
  xsep_graph_default_options(&o);
  o.backend = XSEP_BACKEND_REFERENCE;
  xsep_graph* g = NULL;
  xsep_status st = xsep_graph_load(argv[1], &o, &g);
  if (st != XSEP_STATUS_SUCCESS) {
    fprintf(stderr, "FAIL: xsep_graph_load: %s: %s\n", xsep_status_string(st), xsep_last_error());
    return 1;
  }
  int32_t rank = 0;
  int64_t dims[8];
  if (xsep_graph_input_shape(g, 0, &rank, dims) != XSEP_STATUS_SUCCESS || rank != 4) {
    fprintf(stderr, "FAIL: input shape: rank %d: %s\n", rank, xsep_last_error());
    return 1;
  }
  const int64_t n = dims[0], c = dims[1], hw = dims[2] * dims[3];
  float* x = malloc(sizeof(float) * (size_t)(n * c * hw));
  float* y = malloc(sizeof(float) * (size_t)(n * c));
  for (int64_t i = 0; i < n * c * hw; ++i) x[i] = (float)((i * 37 % 101) - 50) / 25.0f;
  for (int64_t i = 0; i < n * c; ++i) y[i] = NAN;
  const float* ins[1] = {x};
  float* outs[1] = {y};
  st = xsep_graph_run(g, ins, outs);
  if (st != XSEP_STATUS_SUCCESS) {
    fprintf(stderr, "FAIL: xsep_graph_run: %s: %s\n", xsep_status_string(st), xsep_last_error());
    return 1;
  }
  int bad = 0;
  for (int64_t p = 0; p < n * c; ++p) {
    double mean = 0.0;
    for (int64_t i = 0; i < hw; ++i) mean += x[p * hw + i];
    mean /= (double)hw;
    if (!(fabs(y[p] - mean) <= 1e-5 + 1e-5 * fabs(mean))) ++bad;
  }
  xsep_graph_destroy(g);
  free(x);
  free(y);
  if (bad) {
    fprintf(stderr, "FAIL: %d of %lld means differ\n", bad, (long long)(n * c));
    return 1;
  }
  printf("graph_consumer: GlobalAveragePool on %lld planes agrees\n", (long long)(n * c));
  return 0;
}
