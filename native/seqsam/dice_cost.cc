#include "seqsam/dice_cost.h"

#include "core/errors.h"

namespace seqsam::seq {

torch::Tensor diceCost(const torch::Tensor& logits, const torch::Tensor& labels) {
  require(logits.dim() == 4 && labels.dim() == 4, code::kShape, "dice cost: logits and labels must be (B, M, H, W) and (B, K, H, W)");
  require(logits.size(0) == labels.size(0) && logits.size(2) == labels.size(2) && logits.size(3) == labels.size(3), code::kShape,
          "dice cost: logits [" + c10::Join(", ", logits.sizes()) + "] and labels [" + c10::Join(", ", labels.sizes()) +
              "] disagree on batch or mask size");
  constexpr double kSmooth = 1e-5;
  torch::Tensor p = torch::sigmoid(logits).flatten(2);       // (B, M, P)
  torch::Tensor g = labels.to(p.scalar_type()).flatten(2);   // (B, K, P)
  torch::Tensor intersection = torch::bmm(p, g.transpose(1, 2));    // (B, M, K)
  torch::Tensor pp = (p * p).sum(-1, /*keepdim=*/true);              // (B, M, 1)
  torch::Tensor gg = (g * g).sum(-1).unsqueeze(1);                   // (B, 1, K)
  return 1.0 - (2.0 * intersection + kSmooth) / (pp + gg + kSmooth);
}

torch::Tensor diceCostPerPair(const torch::Tensor& logits, const torch::Tensor& labels) {
  constexpr double kSmooth = 1e-5;
  const int64_t b = logits.size(0), m = logits.size(1), k = labels.size(1);
  torch::Tensor cost = torch::empty({b, m, k}, logits.options());
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      for (int64_t l = 0; l < k; ++l) {
        torch::Tensor p = torch::sigmoid(logits[i][j]);
        torch::Tensor g = labels[i][l].to(p.scalar_type());
        cost[i][j][l] = 1.0 - (2.0 * (p * g).sum() + kSmooth) / ((p * p).sum() + (g * g).sum() + kSmooth);
      }
    }
  }
  return cost;
}

}  // namespace seqsam::seq
