// The improved symmetric padding strategy of SPEC section 3: which 2x2
// direction the l-th 2x2 layer of a network uses.
#include "error.h"

extern "C" xsep_status xsep_padding_schedule(int32_t n_layers, xsep_pad* directions) {
  const char* fn = "xsep_padding_schedule";
  if (n_layers < 1) {
    return xsep::detail::fail(XSEP_STATUS_INVALID_ARGUMENT, fn,
                              "n_layers = %d; it must be >= 1", static_cast<int>(n_layers));
  }
  if (directions == nullptr) {
    return xsep::detail::fail(XSEP_STATUS_INVALID_ARGUMENT, fn, "directions is NULL");
  }
  // Consecutive layers come in opposite pairs (BR,TL), (BL,TR) whose half-pixel
  // shifts cancel; an odd count leaves one unpaired layer, which gets the
  // traditional symmetric (per channel group) padding instead.
  static const xsep_pad kCycle[4] = {XSEP_PAD_BOTTOM_RIGHT, XSEP_PAD_TOP_LEFT,
                                     XSEP_PAD_BOTTOM_LEFT, XSEP_PAD_TOP_RIGHT};
  for (int32_t l = 0; l < n_layers; ++l) directions[l] = kCycle[l % 4];
  if (n_layers % 2 == 1) directions[n_layers - 1] = XSEP_PAD_SYMMETRIC;
  return XSEP_STATUS_SUCCESS;
}
