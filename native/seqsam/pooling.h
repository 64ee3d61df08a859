// Which of the M generated masks enter the training loss when there are more steps than labels.
#pragma once
#include <torch/torch.h>

#include <random>
#include <string>

namespace seqsam::seq {

enum class Pooling {
  Strided,           // K contiguous chunks as even as possible, one random step from each
  ReferenceStrided,  // the reference's chunks of ceil(M/K) steps. When they give fewer than K picks (e.g.
                     // M = 5, K = 4: chunks of 2 give 3), the reference's run stops with an error; here
                     // the step goes on and only that many labels are matched (K − P labels go unused).
  Random,            // K distinct random steps
  FirstK,            // steps 0..K-1
  All,               // every step (evaluation)
};

Pooling parsePooling(const std::string& name);

// (batch, P) int64 step indices, one row per image, each row drawn independently.
torch::Tensor drawPicks(int64_t batch, int64_t numSteps, int64_t numLabels, Pooling pooling, std::mt19937_64& rng);

}  // namespace seqsam::seq
