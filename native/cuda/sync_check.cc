#include "cuda/sync_check.h"

#include "core/env_switch.h"

#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace seqsam::cuda {

NoSyncScope::NoSyncScope(bool onCudaDevice) {
#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA
  if (!onCudaDevice || !envIs("SEQSAM_CUDA_SYNC_CHECK", "error")) return;
  auto& state = c10::cuda::warning_state();
  previous_ = static_cast<int>(state.get_sync_debug_mode());
  state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
  active_ = true;
#else
  (void)onCudaDevice;
#endif
}

NoSyncScope::~NoSyncScope() { release(); }

void NoSyncScope::release() {
#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA
  if (active_) c10::cuda::warning_state().set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(previous_));
#endif
  active_ = false;
}

}  // namespace seqsam::cuda
