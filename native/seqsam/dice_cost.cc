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

}  // namespace seqsam::seq
