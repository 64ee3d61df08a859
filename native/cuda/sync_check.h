// A check that a stretch of CUDA work never makes the host wait for the GPU. While a NoSyncScope is alive
// and the environment has SEQSAM_CUDA_SYNC_CHECK=error, every synchronising CUDA operation (a device-to-host
// copy, .item(), a blocking host-to-device copy) throws. Off by default (the setting is process-wide); a
// no-op in builds without CUDA.
#pragma once

namespace seqsam::cuda {

class NoSyncScope {
 public:
  explicit NoSyncScope(bool onCudaDevice);
  ~NoSyncScope();
  // Ends the check early, where the host is meant to wait from then on (reading a step's results).
  void release();
  NoSyncScope(const NoSyncScope&) = delete;
  NoSyncScope& operator=(const NoSyncScope&) = delete;

 private:
  bool active_ = false;
  int previous_ = 0;
};

}  // namespace seqsam::cuda
