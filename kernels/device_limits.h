// The current device's shared-memory and SM limits, for the launchers' tile
// choices (tiling.h): the tiles fit the card they run on, not only an H100.
#pragma once

#include <cstddef>

namespace xsep::kernels {

struct DeviceLimits {
  size_t smem_per_block;   // dynamic shared memory a block may opt in to (cudaDevAttrMaxSharedMemoryPerBlockOptin)
  size_t smem_per_sm;      // cudaDevAttrMaxSharedMemoryPerMultiprocessor
  size_t smem_reserved;    // what CUDA keeps per resident block (cudaDevAttrReservedSharedMemoryPerBlock)
  int sm_count;            // cudaDevAttrMultiProcessorCount

  // The shared memory one block may use so that `blocks` of them fit an SM,
  // never more than a block may have.
  size_t smem_for_blocks(int blocks) const {
    const size_t share = smem_per_sm / size_t(blocks);
    const size_t fit = share > smem_reserved ? share - smem_reserved : 0;
    return fit < smem_per_block ? fit : smem_per_block;
  }
};

// The limits of the calling thread's current device, read once per device and
// kept (thread-safe). Returns 0, or the CUDA runtime's error code of the query.
// The emulated device reports an H100's limits, or another card's with
// XSEP_EMU_DEVICE (kernels/emu/emu_runtime.h).
int current_device_limits(DeviceLimits* out);

}  // namespace xsep::kernels
