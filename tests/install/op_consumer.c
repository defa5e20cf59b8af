/* Links the installed libxsep.so from plain C: the library that loads is the
 * header's version, the reference runs and agrees with a loop written here
 * from SPEC 2.1 (TOP_LEFT: y(h,w) = sum_ij w[i][j] x(h-1+i, w-1+j)), and a bad
 * call gets its status and message. Needs no GPU. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <xsep/reference.h>
#include <xsep/xsep.h>

enum { N = 2, C = 3, H = 4, W = 5 };

static float x_at(const float* x, int n, int c, int h, int w) {
  if (h < 0 || h >= H || w < 0 || w >= W) return 0.0f; /* zero padding */
  return x[((n * C + c) * H + h) * W + w];
}

int main(void) {
  const int want = XSEP_VERSION;
  if (xsep_version() != want) {
    fprintf(stderr, "FAIL: header %d, library %d\n", want, xsep_version());
    return 1;
  }

  float x[N * C * H * W], y[N * C * H * W], w[C * 4];
  unsigned s = 12345u; /* LCG: values in [-1, 1), never all zero */
  for (int i = 0; i < N * C * H * W; ++i) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
  for (int i = 0; i < C * 4; ++i) w[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
  for (int i = 0; i < N * C * H * W; ++i) y[i] = NAN;

  const xsep_tensor_desc d = {N, C, H, W, XSEP_DTYPE_F32, XSEP_LAYOUT_NCHW};
  xsep_status st = xsep_ref_dwconv2x2(&d, x, w, XSEP_PAD_TOP_LEFT, NULL, y, NULL);
  if (st != XSEP_STATUS_SUCCESS) {
    fprintf(stderr, "FAIL: xsep_ref_dwconv2x2: %s: %s\n", xsep_status_string(st), xsep_last_error());
    return 1;
  }
  int bad = 0;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int h = 0; h < H; ++h)
        for (int v = 0; v < W; ++v) {
          double e = 0.0;
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) e += (double)w[c * 4 + i * 2 + j] * x_at(x, n, c, h - 1 + i, v - 1 + j);
          const float got = y[((n * C + c) * H + h) * W + v];
          if (!(fabs(got - e) <= 1e-6 + 1e-6 * fabs(e))) ++bad;
        }
  if (bad) {
    fprintf(stderr, "FAIL: %d of %d reference outputs differ from the loop\n", bad, N * C * H * W);
    return 1;
  }

  st = xsep_dwconv2x2(&d, NULL, w, XSEP_PAD_TOP_LEFT, NULL, y, NULL);
  if (st != XSEP_STATUS_INVALID_ARGUMENT || strlen(xsep_last_error()) == 0) {
    fprintf(stderr, "FAIL: x == NULL gave %s, message '%s'\n", xsep_status_string(st), xsep_last_error());
    return 1;
  }
  printf("op_consumer: xsep %d, reference 2x2 agrees on %d outputs, x == NULL -> %s\n", xsep_version(),
         N * C * H * W, xsep_status_string(st));
  return 0;
}
