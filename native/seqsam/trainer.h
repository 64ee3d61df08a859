// One native training step (forward, loss, backward, AdamW) and evaluation for SeqSAM and its baselines.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cuda/cuda_graph.h"
#include "distributed/gradient_buckets.h"
#include "seqsam/adamw.h"
#include "seqsam/objectives.h"
#include "seqsam/pooling.h"
#include "seqsam/seqsam_model.h"

namespace seqsam::seq {

enum class Objective {
  SeqSam,  // recurrent decoder, matched set loss
  SamMcl,  // SAM's multimask heads, winner takes all against one random label
  SamDet,  // single-mask SAM against one random label
};

Objective parseObjective(const std::string& name);

struct TrainConfig {
  Objective objective = Objective::SeqSam;
  int64_t numMasks = 4;  // M during training (at least K)
  Pooling pooling = Pooling::Strided;
  Matching matching = Matching::Hungarian;
  Feedback feedback = Feedback::Backprop;
  std::optional<Reduction> reduction;  // default: sum for SeqSAM, mean for the baselines (as the reference)
  BaselineDice baselineDice = BaselineDice::WholeMask;     // SAM-MCL / single-mask SAM
  BlankMasking blankMasking = BlankMasking::MatchedLabel;  // SeqSAM
  AdamWOptions optimizer;
  double gradClip = 0;  // max global grad norm; 0 = off
  bool trainEncoder = false;
  uint64_t seed = 0;
  // On a CUDA device, replay the whole step (forward to AdamW) from a CUDA graph where it can be (see
  // Trainer::stepGraphed); false: always eager.
  bool cudaGraphs = true;
};

struct Batch {
  torch::Tensor images;      // (B, 3, S, S) preprocessed, or undefined when embeddings are given
  torch::Tensor embeddings;  // (B, C, h, w) cached image embeddings
  Prompts prompts;
  torch::Tensor labels;      // (B, K, 4h, 4w) binary
  torch::Tensor labelMask;   // (B, K) or undefined: computed (blank labels drop out)
  torch::Tensor picks;       // (B, P) steps for the loss, or undefined: drawn by the pooling rule
};

struct StepResult {
  torch::Tensor loss;        // scalar (detached)
  torch::Tensor picks;       // SeqSAM: (B, P) steps used
  torch::Tensor assignment;  // SeqSAM: (B, P) labels matched; baselines: (B,) winning head
  torch::Tensor cost;        // SeqSAM: (B, P, K); baselines: (B,) target label
  torch::Tensor logits;      // (B, M, 4h, 4w) detached
  std::optional<dist::GradientSyncReport> sync;  // data-parallel steps: how the gradient all-reduce went
};

class Trainer {
 public:
  Trainer(SeqSamModel model, TrainConfig config);

  // Forward, loss, backward and (when `update`) one AdamW step. lr, if given, is set first.
  StepResult step(const Batch& batch, std::optional<double> lr, bool update = true);

  // No gradients: all numMasks hypotheses against all K labels, no pooling, no label mask.
  StepResult evaluate(const Batch& batch, int64_t numMasks);

  // The recorded training steps' counters (captures, replays, fallbacks to eager).
  cuda::GraphStats graphStats() const { return stepGraphs_->stats; }

  AdamW& optimizer() { return *optimizer_; }
  const TrainConfig& config() const { return config_; }
  SeqSamModel& model() { return model_; }

 private:
  torch::Tensor embed(const Batch& batch);
  std::vector<std::pair<std::string, torch::Tensor>> trainableParameters();
  // The host's random draws of the next step (pooling picks, target labels).
  std::mt19937_64 stepDraws() const;
  Reduction lossReduction() const;
  // The forward pass and its loss for `batch`'s tensors; `loss` still carries its graph.
  // The update's gate (loss and global gradient norm finite, a 0-d bool on the device) and the norm; the
  // gradients then clipped as configured.
  std::pair<torch::Tensor, torch::Tensor> gateAndClip(const torch::Tensor& loss, const torch::Device& device);
  // A gated-off step: taken back from the optimizer's count and refused with ERR_NUMERIC.
  // loss.backward(), as a named range in profiler traces.
  void backward(const torch::Tensor& loss);
  [[noreturn]] void refuseNonFinite(const torch::Tensor& loss, const torch::Tensor& norm);
  StepResult forwardLoss(const torch::Tensor& embeddings, const Prompts& prompts, const torch::Tensor& labels, const torch::Tensor& labelMask,
                         const torch::Tensor& picks, const torch::Tensor& targetChoices, int64_t numMasks);

  // step() replayed from a CUDA graph recorded once per layout of the batch; nullopt where this step
  // cannot be graphed (then step() runs it eagerly). Same results as the eager step.
  std::optional<StepResult> stepGraphed(const Batch& batch);
  bool graphable(const Batch& batch, bool update) const;

  // A recorded step's static inputs (written before each replay), and the gradients its backward fills.
  struct StepInputs {
    torch::Tensor embeddings, labels, labelMask, picks, targetChoices;
    Prompts prompts;
    std::vector<torch::Tensor> gradients;
  };
  std::unique_ptr<cuda::GraphCache<StepInputs>> stepGraphs_ = std::make_unique<cuda::GraphCache<StepInputs>>(4);

  SeqSamModel model_;
  TrainConfig config_;
  std::unique_ptr<AdamW> optimizer_;
};

}  // namespace seqsam::seq
