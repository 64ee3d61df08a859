// What a data-parallel training step does with the process group, as DistributedDataParallel does: the
// parameters and buffers come from rank 0 before a model's first step in a group, each rank takes its own
// rows of the whole group's per-image random draws, and the gradients are summed across ranks in flattened
// buckets during backward (gradient_buckets.h), weighted by the loss's reduction, so that N ranks with batch b
// each train the same model as one rank with batch N·b.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

#include "distributed/process_group.h"

namespace seqsam::dist {

// This rank's place in the step of the whole group. Every rank holds a batch of the same size (the trainer
// pads its shards to equal length; GradientBuckets checks it), so rank r holds rows [r·b, (r+1)·b).
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

}  // namespace seqsam::dist
