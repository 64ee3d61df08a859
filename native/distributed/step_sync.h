// What a data-parallel training step does with the process group, as DistributedDataParallel does: the
// parameters and buffers come from rank 0 before a model's first step in a group, each rank takes its own
// rows of the whole group's per-image random draws, and after backward the gradients are summed across
// ranks in flattened buckets, weighted by the loss's reduction, so that N ranks with batch b each train the
// same model as one rank with batch N·b.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/process_group.h"

namespace seqsam::dist {

// This rank's place in the step of the whole group. Every rank holds a batch of the same size (the trainer
// pads its shards to equal length; reduceGradients checks it), so rank r holds rows [r·b, (r+1)·b).
struct StepWindow {
  std::shared_ptr<Group> group;  // null when the process trains alone
  int64_t globalBatch = 0;
  int64_t offset = 0;

  // The rows of a per-image draw over the global batch that belong to this rank (the draw itself when alone).
  torch::Tensor rows(const torch::Tensor& drawn, int64_t localBatch) const;
};

// `inGroup` false (a step that updates nothing) keeps the step to this rank alone.
StepWindow stepWindow(int64_t localBatch, bool inGroup = true);

// Copies rank 0's parameters and buffers into `model` the first time it trains in `group`.
void broadcastModelOnce(Group& group, const std::shared_ptr<torch::nn::Module>& model);

// Sums the gradients of `params` over the group in buckets of about `bucketBytes`, each rank's weighted by
// 1 for a `sum` loss and by b / Σb for a `mean` one, and returns the group's loss (0-d, on the loss's device)
// on the same scale. Refuses (ERR_DISTRIBUTED) ranks whose batch size, label count or gradients differ.
torch::Tensor reduceGradients(Group& group, const std::vector<std::pair<std::string, torch::Tensor>>& params, const torch::Tensor& loss,
                              int64_t localBatch, int64_t numLabels, bool meanReduction, int64_t bucketBytes = int64_t{25} << 20);

}  // namespace seqsam::dist
