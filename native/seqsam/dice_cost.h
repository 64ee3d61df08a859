// Squared soft Dice loss between every hypothesis and every label, for a whole batch at once.
#pragma once
#include <torch/torch.h>

namespace seqsam::seq {

// logits (B, M, H, W), labels (B, K, H, W) in {0, 1} -> cost (B, M, K):
// 1 − (2Σpg + 1e-5) / (Σp² + Σg² + 1e-5) with p = sigmoid(logits), sums over the whole mask.
// One batched matmul for the intersections; no per-pair loop.
torch::Tensor diceCost(const torch::Tensor& logits, const torch::Tensor& labels);

// The same numbers one (image, hypothesis, label) pair at a time, as the reference computes them; kept
// as the baseline the benchmark compares against.
torch::Tensor diceCostPerPair(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace seqsam::seq
