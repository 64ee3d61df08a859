#include "seqsam/objectives.h"

#include "core/errors.h"
#include "seqsam/dice_cost.h"
#include "seqsam/hungarian.h"

namespace seqsam::seq {

Matching parseMatching(const std::string& name) {
  if (name == "hungarian") return Matching::Hungarian;
  if (name == "fixed") return Matching::Fixed;
  fail(code::kArgument, "matching must be 'hungarian' or 'fixed' (got '" + name + "')");
}

Reduction parseReduction(const std::string& name) {
  if (name == "sum") return Reduction::Sum;
  if (name == "mean") return Reduction::Mean;
  fail(code::kArgument, "reduction must be 'sum' or 'mean' (got '" + name + "')");
}

BaselineDice parseBaselineDice(const std::string& name) {
  if (name == "whole-mask") return BaselineDice::WholeMask;
  if (name == "row-wise") return BaselineDice::RowWise;
  fail(code::kArgument, "baselineDice must be 'whole-mask' or 'row-wise' (got '" + name + "')");
}

BlankMasking parseBlankMasking(const std::string& name) {
  if (name == "matched-label") return BlankMasking::MatchedLabel;
  if (name == "pick-index") return BlankMasking::PickIndex;
  fail(code::kArgument, "blankMasking must be 'matched-label' or 'pick-index' (got '" + name + "')");
}

torch::Tensor nonBlankMask(const torch::Tensor& labels) {
  return (labels.flatten(2).amax(-1) > 0).to(torch::kFloat);
}

SetLoss matchedSetLoss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& labelMask,
                       const torch::Tensor& picks, Matching matching, Reduction reduction, BlankMasking blankMasking) {
  const int64_t batch = logits.size(0), numLabels = labels.size(1);
  require(picks.dim() == 2 && picks.size(0) == batch, code::kShape, "set loss: picks must be (B, P)");
  torch::Tensor index = picks.to(logits.device()).view({batch, -1, 1, 1}).expand({batch, picks.size(1), logits.size(2), logits.size(3)});
  torch::Tensor picked = logits.gather(1, index);  // (B, P, H, W)
  torch::Tensor cost = diceCost(picked, labels);   // (B, P, K)
  const int64_t numPicks = cost.size(1);

  torch::Tensor assignment;
  if (matching == Matching::Hungarian) {
    assignment = batchedAssignment(cost);
  } else {
    auto identity = torch::arange(numPicks, torch::TensorOptions().dtype(torch::kLong).device(cost.device()));
    assignment = torch::where(identity < numLabels, identity, torch::full_like(identity, -1)).expand({batch, numPicks}).contiguous();
  }
  // Matched costs via a one-hot of the assignment: differentiable, no host round trip.
  torch::Tensor matched = torch::zeros_like(cost);
  torch::Tensor valid = assignment >= 0;
  matched.scatter_(2, assignment.clamp_min(0).unsqueeze(-1), valid.unsqueeze(-1).to(cost.scalar_type()));
  torch::Tensor weights = matched;
  if (labelMask.defined() && blankMasking == BlankMasking::MatchedLabel) {
    weights = matched * labelMask.to(cost.scalar_type()).unsqueeze(1);  // (B, 1, K): by the matched label
  } else if (labelMask.defined()) {
    require(numPicks <= numLabels, code::kArgument,
            "set loss: pick-indexed blank masking weighs pick r by label r's mask, so it needs at most K = " + std::to_string(numLabels) +
                " picks (got " + std::to_string(numPicks) + ")");
    weights = matched * labelMask.to(cost.scalar_type()).slice(1, 0, numPicks).unsqueeze(2);  // (B, P, 1): by the pick's position
  }
  torch::Tensor loss = (cost * weights).sum() / static_cast<double>(numLabels);
  if (reduction == Reduction::Mean) loss = loss / static_cast<double>(batch);
  return {loss, cost, assignment};
}

torch::Tensor drawTargetChoices(int64_t batch, int64_t numLabels, std::mt19937_64& rng) {
  std::vector<int64_t> table(static_cast<size_t>(batch * numLabels));
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t u = rng();
    for (int64_t n = 1; n <= numLabels; ++n) table[b * numLabels + n - 1] = static_cast<int64_t>(u % static_cast<uint64_t>(n));
  }
  return torch::tensor(table, torch::kLong).view({batch, numLabels});
}

torch::Tensor pickTargetLabels(const torch::Tensor& labels, const torch::Tensor& choices) {
  torch::Tensor present = nonBlankMask(labels) > 0;                               // (B, K)
  torch::Tensor none = present.logical_not().all(1, /*keepdim=*/true);
  torch::Tensor candidates = present.logical_or(none).to(torch::kLong);            // all labels when none is present
  torch::Tensor count = candidates.sum(1, /*keepdim=*/true);                       // n >= 1
  torch::Tensor wanted = choices.to(labels.device()).gather(1, count - 1);         // u mod n
  torch::Tensor rank = candidates.cumsum(1) - 1;                                   // rank among candidates
  return (candidates.gt(0).logical_and(rank == wanted)).to(torch::kLong).argmax(1);  // the one candidate of that rank
}

WinnerLoss winnerTakesAllLoss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                              Reduction reduction, BaselineDice dice) {
  const int64_t batch = logits.size(0);
  torch::Tensor index = targets.to(labels.device()).view({batch, 1, 1, 1}).expand({batch, 1, labels.size(2), labels.size(3)});
  torch::Tensor target = labels.gather(1, index);              // (B, 1, H, W)
  torch::Tensor cost = dice == BaselineDice::RowWise ? rowWiseDiceCost(logits, target) : diceCost(logits, target).squeeze(-1);  // (B, heads)
  auto [best, winner] = cost.min(1);
  torch::Tensor loss = reduction == Reduction::Mean ? best.mean() : best.sum();
  return {loss, winner, targets};
}

}  // namespace seqsam::seq
