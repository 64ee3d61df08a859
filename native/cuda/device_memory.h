// Free and total memory of a CUDA device, as the driver counts it (memory LibTorch's caching allocator holds
// in reserve counts as used). No CUDA headers here: callers compile in CPU-only builds too.
#pragma once
#include <cstdint>
#include <optional>

namespace seqsam::cuda {

struct DeviceMemory {
  int64_t freeBytes = 0;
  int64_t totalBytes = 0;
};

// nullopt in a build without CUDA or when the device cannot be queried.
std::optional<DeviceMemory> deviceMemory(int deviceIndex);

}  // namespace seqsam::cuda
