// Named-tensor transfer between a module and a checkpoint, with PyTorch's strict-loading semantics.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::sam {

// Copies each tensor into the parameter/buffer of the same name (converting dtype/device), without
// recording autograd history. strict: every missing, unexpected, duplicated or shape-mismatched key is
// collected into one seqsam::Error(kCheckpoint) and nothing is copied. Not strict: missing and unexpected
// keys are skipped, but shape mismatches (and duplicates) still throw, as torch's load_state_dict does.
void loadStateDict(torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                   bool strict);

// Parameters then buffers, by their dotted names (the official state-dict keys for SamModel).
std::vector<std::pair<std::string, torch::Tensor>> stateDict(const torch::nn::Module& module);

}  // namespace seqsam::sam
