// Raw tensor I/O for the safetensors format. The JSON header is parsed and validated in TypeScript;
// this side reads and writes the byte ranges it was told about, checking them against the file again.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::io {

struct TensorSlice {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // relative to the data section
  uint64_t end = 0;
};

// Reads each slice from `path` (data section at `dataStart`) into a new CPU tensor.
std::vector<std::pair<std::string, torch::Tensor>> readSafetensors(const std::string& path, uint64_t dataStart,
                                                                   const std::vector<TensorSlice>& slices);

// Writes `header` (JSON; padded here) and the tensors, in order, to `path` atomically (temp file + rename).
void writeSafetensors(const std::string& path, const std::string& header, const std::vector<torch::Tensor>& tensors);

}  // namespace seqsam::io
