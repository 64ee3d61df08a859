// Training objectives: SeqSAM's matched set loss and the two SAM baselines.
#pragma once
#include <torch/torch.h>

#include <random>
#include <string>

namespace seqsam::seq {

enum class Matching { Hungarian, Fixed };
enum class Reduction { Sum, Mean };
// The baselines' Dice: over the whole mask (default), or per image row, averaged over rows (the reference's
// baselines, whose Dice loss took the rows of (B·heads, H, W) masks for channels).
enum class BaselineDice { WholeMask, RowWise };
// Which label mask weighs a matched pair of the set loss: the matched label's (default: a blank label adds
// nothing), or the mask at the pick's own position r (the reference: pair r is multiplied by labelMask[r],
// whichever label it was matched to).
enum class BlankMasking { MatchedLabel, PickIndex };

Matching parseMatching(const std::string& name);
Reduction parseReduction(const std::string& name);
BaselineDice parseBaselineDice(const std::string& name);
BlankMasking parseBlankMasking(const std::string& name);

struct SetLoss {
  torch::Tensor loss;        // scalar, differentiable
  torch::Tensor cost;        // (B, P, K) Dice costs of the picked steps against every label
  torch::Tensor assignment;  // (B, P) label matched to each picked step (-1: none)
};

// SeqSAM: cost of the picked steps `picks` (B, P) of `logits` (B, M, H, W) against labels (B, K, H, W);
// exact assignment per image; loss = Σ matched cost × labelMask / K, summed over the batch (or averaged).
// labelMask (B, K) may be undefined (all ones): evaluation counts blank labels too. With PickIndex the
// r-th picked step is weighed by labelMask[:, r], which needs P <= K.
SetLoss matchedSetLoss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& labelMask,
                       const torch::Tensor& picks, Matching matching, Reduction reduction,
                       BlankMasking blankMasking = BlankMasking::MatchedLabel);

// (B, K) 1 where a label has any foreground: blank annotations drop out of the training loss.
torch::Tensor nonBlankMask(const torch::Tensor& labels);

// One random non-blank label index per image (any label when all are blank), in two halves so that no value
// goes from the device to the host: drawTargetChoices takes one draw u per image on the host, before the
// forward pass, as a (B, K) table u mod n for n = 1..K; pickTargetLabels then counts each image's candidate
// labels n on the labels' device and picks the (u mod n)-th of them.
torch::Tensor drawTargetChoices(int64_t batch, int64_t numLabels, std::mt19937_64& rng);
torch::Tensor pickTargetLabels(const torch::Tensor& labels, const torch::Tensor& choices);

struct WinnerLoss {
  torch::Tensor loss;    // scalar
  torch::Tensor winner;  // (B,) index of the best head
  torch::Tensor target;  // (B,) label each image was scored against
};

// SAM-MCL (3 heads, winner takes all) and single-mask SAM: Dice loss of each head against one random
// non-blank label per image, minimum over heads, averaged over the batch as the reference does.
WinnerLoss winnerTakesAllLoss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& targets,
                              Reduction reduction, BaselineDice dice = BaselineDice::WholeMask);

}  // namespace seqsam::seq
