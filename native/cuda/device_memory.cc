#include "cuda/device_memory.h"

#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace seqsam::cuda {

std::optional<DeviceMemory> deviceMemory(int deviceIndex) {
#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess || cudaSetDevice(deviceIndex) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a bad index
    return std::nullopt;
  }
  size_t freeBytes = 0, totalBytes = 0;
  const cudaError_t status = cudaMemGetInfo(&freeBytes, &totalBytes);
  cudaSetDevice(previous);
  if (status != cudaSuccess) {
    cudaGetLastError();
    return std::nullopt;
  }
  return DeviceMemory{static_cast<int64_t>(freeBytes), static_cast<int64_t>(totalBytes)};
#else
  (void)deviceIndex;
  return std::nullopt;
#endif
}

}  // namespace seqsam::cuda
