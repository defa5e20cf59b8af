// The warp matrix (tensor-core) API, nvcuda::wmma: CUDA's <mma.h> on a GPU,
// the emulated fragments of emu/emu_wmma.h on the emulated device. Kernels
// use only its layout-free part (fill, load, mma, store of whole fragments).
#pragma once

#include "device_common.cuh"

#if defined(XSEP_EMU)
#include "emu/emu_wmma.h"
#else
#include <mma.h>
#endif
