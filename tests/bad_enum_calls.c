/* Out-of-range enum values through every public operator (bad_enum_calls.h).
 * Plain C11 on purpose: converting any int to an enum type is well defined
 * here, and compiling this file also proves the public headers are valid C11. */
#include "bad_enum_calls.h"

#include <stddef.h>

#include "xsep/reference.h"

/* The limit macros are C constant expressions with the values the README states. */
_Static_assert(XSEP_MAX_K == 31, "XSEP_MAX_K");
_Static_assert(XSEP_MAX_ELEMENTS == 2147483647 && sizeof(XSEP_MAX_ELEMENTS) == 8, "XSEP_MAX_ELEMENTS");
_Static_assert(XSEP_MAX_SIDE == 1073741824 && sizeof(XSEP_MAX_SIDE) == 8, "XSEP_MAX_SIDE");
#if XSEP_MAX_ELEMENTS != 2147483647 || XSEP_MAX_SIDE != 1073741824 || XSEP_MAX_K != 31
#error "the limit macros must work in #if"
#endif

int xsep_test_call_with_enum(int op, int reference, int field, int value,
                             const xsep_tensor_desc* desc, const void* x, const float* w,
                             int32_t k, int32_t stride, void* y) {
  xsep_tensor_desc d = *desc;
  xsep_pad pad = XSEP_PAD_TOP_LEFT;
  xsep_epilogue ep = {NULL, NULL, XSEP_ACT_RELU};
  xsep_xsepconv_params p = {k, stride, XSEP_PAD_TOP_LEFT, w, w, w, ep, ep, ep};
  const int has_pad = op == XSEP_TEST_OP_2X2 || op == XSEP_TEST_OP_XSEPCONV;
  const int is_xsep = op == XSEP_TEST_OP_XSEPCONV;
  switch (field) {
    case XSEP_TEST_FIELD_DTYPE: d.dtype = (xsep_dtype)value; break;
    case XSEP_TEST_FIELD_LAYOUT: d.layout = (xsep_layout)value; break;
    case XSEP_TEST_FIELD_PAD:
      if (!has_pad) return -1;
      pad = p.pad = (xsep_pad)value;
      break;
    case XSEP_TEST_FIELD_ACT_EP:
      if (is_xsep) return -1;
      ep.act = (xsep_activation)value;
      break;
    case XSEP_TEST_FIELD_ACT_EP2X2:
    case XSEP_TEST_FIELD_ACT_EP1XK:
    case XSEP_TEST_FIELD_ACT_EPKX1:
      if (!is_xsep) return -1;
      (field == XSEP_TEST_FIELD_ACT_EP2X2   ? &p.ep2x2
       : field == XSEP_TEST_FIELD_ACT_EP1XK ? &p.ep1xk
                                            : &p.epkx1)->act = (xsep_activation)value;
      break;
    default: return -1;
  }
  switch (op) {
    case XSEP_TEST_OP_2X2:
      return reference ? xsep_ref_dwconv2x2(&d, x, w, pad, &ep, y, NULL)
                       : xsep_dwconv2x2(&d, x, w, pad, &ep, y, NULL);
    case XSEP_TEST_OP_1XK:
      return reference ? xsep_ref_dwconv1xk(&d, x, w, k, stride, &ep, y, NULL)
                       : xsep_dwconv1xk(&d, x, w, k, stride, &ep, y, NULL);
    case XSEP_TEST_OP_KX1:
      return reference ? xsep_ref_dwconvkx1(&d, x, w, k, stride, &ep, y, NULL)
                       : xsep_dwconvkx1(&d, x, w, k, stride, &ep, y, NULL);
    case XSEP_TEST_OP_KXK:
      return reference ? xsep_ref_dwconvkxk(&d, x, w, k, stride, &ep, y, NULL)
                       : xsep_dwconvkxk(&d, x, w, k, stride, &ep, y, NULL);
    case XSEP_TEST_OP_XSEPCONV:
      return reference ? xsep_ref_xsepconv(&d, x, &p, y, NULL) : xsep_xsepconv(&d, x, &p, y, NULL);
    default: return -1;
  }
}

const char* xsep_test_status_string(int value) { return xsep_status_string((xsep_status)value); }
