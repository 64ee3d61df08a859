// Reads PyTorch `torch.save` files (zip + pickle) into a flat name -> tensor map.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::io {

// Unwraps {"model": ...} / {"state_dict": ...}, flattens nested dicts with '.', keeps tensors only.
std::vector<std::pair<std::string, torch::Tensor>> readTorchCheckpoint(const std::string& path);

}  // namespace seqsam::io
