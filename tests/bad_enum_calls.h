/* Calls into the public operators with enum arguments outside their enumerators
 * (bad_enum_calls.c). In C such values are well defined; in C++ loading them
 * would be undefined behaviour, so test_bad_input.cpp passes plain ints here. */
#ifndef XSEP_TESTS_BAD_ENUM_CALLS_H_
#define XSEP_TESTS_BAD_ENUM_CALLS_H_

#include "xsep/xsep.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Operators, in the order of xsep.h. */
enum { XSEP_TEST_OP_2X2, XSEP_TEST_OP_1XK, XSEP_TEST_OP_KX1, XSEP_TEST_OP_KXK, XSEP_TEST_OP_XSEPCONV };

/* The enum-typed argument that receives the raw value. EP is the epilogue of a
 * single operator; EP2X2 / EP1XK / EPKX1 are the three of xsepconv. */
enum {
  XSEP_TEST_FIELD_DTYPE,
  XSEP_TEST_FIELD_LAYOUT,
  XSEP_TEST_FIELD_PAD,
  XSEP_TEST_FIELD_ACT_EP,
  XSEP_TEST_FIELD_ACT_EP2X2,
  XSEP_TEST_FIELD_ACT_EP1XK,
  XSEP_TEST_FIELD_ACT_EPKX1
};

/* Calls operator `op` (xsep_ref_* when `reference` != 0, else the device one)
 * with the given valid arguments after storing `value` into `field`; xsepconv
 * uses `w` for all three weight arrays. Returns the status, or -1 when `field`
 * does not exist for `op` (PAD for 1xK, Kx1, KxK; ACT_EP for xsepconv; ...). */
int xsep_test_call_with_enum(int op, int reference, int field, int value,
                             const xsep_tensor_desc* desc, const void* x, const float* w,
                             int32_t k, int32_t stride, void* y);

/* xsep_status_string of any int, e.g. -1 or 99. */
const char* xsep_test_status_string(int value);

#ifdef __cplusplus
}
#endif

#endif /* XSEP_TESTS_BAD_ENUM_CALLS_H_ */
