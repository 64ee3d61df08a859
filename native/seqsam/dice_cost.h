// Squared soft Dice loss between every hypothesis and every label, for a whole batch at once.
#pragma once
#include <torch/torch.h>

namespace seqsam::seq {

// logits (B, M, H, W), labels (B, K, H, W) in {0, 1} -> cost (B, M, K):
// 1 − (2Σpg + 1e-5) / (Σp² + Σg² + 1e-5) with p = sigmoid(logits), sums over the whole mask.
// One batched matmul for the intersections; no per-pair loop.
torch::Tensor diceCost(const torch::Tensor& logits, const torch::Tensor& labels);

// logits (B, M, H, W), one label per image (B, 1, H, W) -> cost (B, M): the squared soft Dice loss of
// each image row on its own (sums over W only, same smoothing), averaged over the H rows. This is what a
// per-channel Dice loss computes when handed masks shaped (B·M, H, W), which takes the rows for channels;
// a row with no foreground in either mask costs 0, one with foreground in only one costs about 1.
torch::Tensor rowWiseDiceCost(const torch::Tensor& logits, const torch::Tensor& label);

// The same numbers one (image, hypothesis, label) pair at a time, as the reference computes them; kept
// as the baseline the benchmark compares against.
torch::Tensor diceCostPerPair(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace seqsam::seq
