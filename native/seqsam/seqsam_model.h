// SeqSAM: SAM whose mask decoder runs M times, each step fed the previous step's mask logits and a
// recurrent hidden state, so that it generates M different plausible masks one after another.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "cuda/cuda_graph.h"
#include "sam/sam_model.h"
#include "seqsam/recurrent_cell.h"

namespace seqsam::seq {

enum class Feedback {
  Backprop,      // gradients flow through the fed-back logits and H (BPTT)
  StopGradient,  // the fed-back logits are detached; H keeps its gradient (the reference's "sg")
};

struct Prompts {
  torch::Tensor points;  // (B, N, 2) in the encoder's input frame, or undefined
  torch::Tensor labels;  // (B, N)
  torch::Tensor boxes;   // (B, 4) x0 y0 x1 y1 in the encoder's input frame, or undefined
};

struct Rollout {
  torch::Tensor logits;  // (B, M, 4h, 4w) low-res mask logits, step m in channel m
  torch::Tensor iou;     // (B, M) predicted IoU of each step's mask
};

class SeqSamModelImpl : public torch::nn::Module {
 public:
  explicit SeqSamModelImpl(const sam::SamConfig& config);

  const sam::SamConfig& config() const { return sam->config(); }

  // M steps of the recurrent decoder over image embeddings (1 shared, or B) for B prompts.
  Rollout rollout(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, Feedback feedback);

  // rollout() for inference, under the caller's no-grad scope: with `graphed` (and graphs enabled, on a CUDA
  // device) replayed from a CUDA graph recorded once per layout of embeddings and prompts, M and precision;
  // eager otherwise, or where a capture failed. Same results as rollout() either way.
  Rollout predictRollout(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, bool graphed);
  // The recorded rollouts' counters (captures, replays, fallbacks to eager).
  cuda::GraphStats rolloutGraphStats() const { return rolloutGraphs_->stats; }

  // Plain SAM on the same weights (the baselines): one decoder pass, 1 or numMultimaskOutputs masks.
  sam::MaskDecoderOutput decodeOnce(const torch::Tensor& imageEmbeddings, const Prompts& prompts, bool multimask);

  // The SAM body (its precision applies to the rollout too); its three parts are registered here under the official names.
  sam::SamModel sam{nullptr};
  RecurrentCell cell{nullptr};

 private:
  // The rollout's M decoder steps, under the caller's autocast scope.
  void steps(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, Feedback feedback,
             std::vector<torch::Tensor>& logits, std::vector<torch::Tensor>& iou);

  // Static inputs of each recorded rollout. The graphs read the weights in place, so loading weights or
  // training keeps them valid.
  struct RolloutInputs {
    torch::Tensor embeddings;
    Prompts prompts;
  };
  std::unique_ptr<cuda::GraphCache<RolloutInputs>> rolloutGraphs_ = std::make_unique<cuda::GraphCache<RolloutInputs>>();
};
TORCH_MODULE(SeqSamModel);

}  // namespace seqsam::seq
