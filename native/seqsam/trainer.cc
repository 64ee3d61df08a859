#include "seqsam/trainer.h"

#include <ATen/record_function.h>

#include <cstdlib>
#include <utility>

#include "core/errors.h"
#include "core/precision.h"
#include "core/tf32_scope.h"
#include "cuda/sync_check.h"
#include "distributed/step_sync.h"
#include "seqsam/adamw_update.h"

namespace seqsam::seq {

Objective parseObjective(const std::string& name) {
  if (name == "seqsam") return Objective::SeqSam;
  if (name == "sam-mcl") return Objective::SamMcl;
  if (name == "sam-det") return Objective::SamDet;
  fail(code::kArgument, "objective must be 'seqsam', 'sam-mcl' or 'sam-det' (got '" + name + "')");
}

Trainer::Trainer(SeqSamModel model, TrainConfig config) : model_(std::move(model)), config_(config) {
  require(config_.numMasks >= 1, code::kArgument, "numMasks must be at least 1");
  for (auto& p : model_->sam->image_encoder->parameters()) p.set_requires_grad(config_.trainEncoder);
  optimizer_ = std::make_unique<AdamW>(trainableParameters(), config_.optimizer);
  // SEQSAM_ADAMW_KERNELS (auto, per-tensor, multi-tensor, fused) picks how the update and the gradient clipping
  // are issued, for tests and benchmarks; auto: per tensor on the CPU, multi-tensor on a GPU.
  if (const char* kernels = std::getenv("SEQSAM_ADAMW_KERNELS"); kernels != nullptr && *kernels != '\0') {
    optimizer_->setKernels(parseAdamWKernels(kernels));
  }
}

std::vector<std::pair<std::string, torch::Tensor>> Trainer::trainableParameters() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model_->named_parameters()) {
    const std::string& name = item.key();
    if (!config_.trainEncoder && name.rfind("image_encoder.", 0) == 0) continue;
    // The baselines are plain SAM: the cell takes no part.
    if (config_.objective != Objective::SeqSam && name.rfind("cell.", 0) == 0) continue;
    out.emplace_back(name, item.value());
  }
  return out;
}

torch::Tensor Trainer::embed(const Batch& batch) {
  if (batch.embeddings.defined()) return batch.embeddings;
  require(batch.images.defined(), code::kArgument, "batch: give either images or embeddings");
  if (config_.trainEncoder) return model_->sam->encodeImage(batch.images);
  torch::NoGradGuard frozen;  // a frozen encoder needs no graph
  return model_->sam->encodeImage(batch.images);
}

namespace {

void checkBatch(const Batch& batch, const torch::Tensor& embeddings) {
  require(batch.labels.defined() && batch.labels.dim() == 4, code::kShape, "batch.labels must be (B, K, H, W)");
  const int64_t b = batch.labels.size(0);
  require(embeddings.size(0) == b, code::kShape,
          "batch: " + std::to_string(embeddings.size(0)) + " images but " + std::to_string(b) + " label sets");
  require(batch.labels.size(2) == 4 * embeddings.size(2) && batch.labels.size(3) == 4 * embeddings.size(3), code::kShape,
          "batch.labels: masks must be the low-res size " + std::to_string(4 * embeddings.size(2)) + "x" +
              std::to_string(4 * embeddings.size(3)) + ", got " + std::to_string(batch.labels.size(2)) + "x" + std::to_string(batch.labels.size(3)));
  if (batch.prompts.boxes.defined()) {
    require(batch.prompts.boxes.size(0) == b, code::kShape, "batch.boxes: one box per image expected");
  }
}

// Which of the batch's labels SeqSAM's set loss counts: as given, or the non-blank ones.
torch::Tensor setLossMask(const Batch& batch, const torch::Tensor& labels) {
  return batch.labelMask.defined() ? batch.labelMask.to(labels.device(), torch::kFloat) : nonBlankMask(labels);
}

// The gradients the optimizer will apply.
std::vector<torch::Tensor> gradientsOf(const std::vector<std::pair<std::string, torch::Tensor>>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& [name, p] : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

// The global L2 norm of the gradients, as a device tensor (0 when no parameter has a gradient). multiTensor:
// the per-tensor norms as one _foreach_ op (a couple of kernel launches on a GPU instead of one per tensor;
// the same norms, computed per tensor, on the CPU).
torch::Tensor gradNorm(const std::vector<torch::Tensor>& grads, const torch::Device& device, bool multiTensor) {
  torch::NoGradGuard noGrad;
  if (grads.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
  std::vector<torch::Tensor> norms;
  if (multiTensor) {
    norms = at::_foreach_norm(grads, 2);
  } else {
    for (const auto& g : grads) norms.push_back(g.norm(2));
  }
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
}

// torch::nn::utils::clip_grad_norm_, without its .item(): the scale min(1, max / (norm + 1e-6)) stays a
// device tensor (a factor of exactly 1 leaves the gradients as they are, as the reference's `if` does).
void clipGradNorm(std::vector<torch::Tensor>& grads, double maxNorm, const torch::Tensor& total, bool multiTensor) {
  torch::NoGradGuard noGrad;
  scaleInPlace(grads, StepFactor{0, (maxNorm / (total + 1e-6)).clamp_max(1.0)}, multiTensor);
}

}  // namespace

std::mt19937_64 Trainer::stepDraws() const {
  // Seeded by (seed, step): a resumed run draws exactly what an uninterrupted one would.
  return std::mt19937_64(config_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(optimizer_->steps()));
}

Reduction Trainer::lossReduction() const {
  // SeqSAM's set loss sums over the batch, the baselines' winner-takes-all loss averages (as the reference).
  return config_.reduction.value_or(config_.objective == Objective::SeqSam ? Reduction::Sum : Reduction::Mean);
}

StepResult Trainer::forwardLoss(const torch::Tensor& embeddings, const Prompts& prompts, const torch::Tensor& labels, const torch::Tensor& labelMask,
                                const torch::Tensor& picks, const torch::Tensor& targetChoices, int64_t numMasks) {
  const Reduction reduction = lossReduction();
  if (config_.objective == Objective::SeqSam) {
    Rollout rollout = model_->rollout(embeddings, prompts, numMasks, config_.feedback);
    SetLoss set = [&] {
      RECORD_USER_SCOPE("seqsam::set_loss");
      return matchedSetLoss(rollout.logits, labels, labelMask, picks, config_.matching, reduction, config_.blankMasking);
    }();
    return {set.loss, picks, set.assignment, set.cost.detach(), rollout.logits.detach(), std::nullopt};
  }
  auto out = model_->decodeOnce(embeddings, prompts, config_.objective == Objective::SamMcl);
  torch::Tensor targets = pickTargetLabels(labels, targetChoices);
  WinnerLoss wta = [&] {
    RECORD_USER_SCOPE("seqsam::winner_takes_all_loss");
    return winnerTakesAllLoss(out.lowResMasks, labels, targets, reduction, config_.baselineDice);
  }();
  return {wta.loss, torch::Tensor(), wta.winner, wta.target, out.lowResMasks.detach(), std::nullopt};
}

std::pair<torch::Tensor, torch::Tensor> Trainer::gateAndClip(const torch::Tensor& loss, const torch::Device& device) {
  RECORD_USER_SCOPE("seqsam::clip_gradients");
  const bool multiTensor = optimizer_->kernelsForNextStep() != AdamWKernels::PerTensor;
  std::vector<torch::Tensor> grads = gradientsOf(optimizer_->params());
  torch::Tensor norm = gradNorm(grads, device, multiTensor);
  torch::Tensor finite = torch::isfinite(loss.detach()).logical_and(torch::isfinite(norm));
  if (config_.gradClip > 0) clipGradNorm(grads, config_.gradClip, norm, multiTensor);
  return {finite, norm};
}

void Trainer::backward(const torch::Tensor& loss) {
  RECORD_USER_SCOPE("seqsam::backward");
  loss.backward();
}

void Trainer::refuseNonFinite(const torch::Tensor& loss, const torch::Tensor& norm) {
  optimizer_->retractStep();
  fail(code::kNumeric, "trainStep: the loss (" + std::to_string(loss.item<double>()) + ") or the gradient norm (" + std::to_string(norm.item<double>()) +
                           ") is not finite; the weights and the optimizer state were left unchanged (check the learning rate and the inputs)");
}

StepResult Trainer::step(const Batch& batch, std::optional<double> lr, bool update) {
  if (lr) optimizer_->options().lr = *lr;
  // tf32: the backward pass's matmuls too (the forward's scopes close before it).
  const Tf32Scope tf32(model_->sam->precision() == Precision::Tf32);
  if (graphable(batch, update)) {
    if (std::optional<StepResult> graphed = stepGraphed(batch)) return std::move(*graphed);
  }
  optimizer_->stageScalars();  // an optimizer a recorded step made capturable reads its rate from the device
  model_->train();
  torch::Tensor embeddings = embed(batch);
  checkBatch(batch, embeddings);
  const int64_t b = embeddings.size(0), k = batch.labels.size(1);
  std::mt19937_64 rng = stepDraws();
  const torch::Device device = embeddings.device();
  torch::Tensor labels = batch.labels.to(device, torch::kFloat);
  // Everything drawn on the host goes to the device now, before the forward pass: from here to the optimizer
  // step nothing is copied between host and device (a copy would wait for the queued GPU work).
  const int64_t m = std::max(config_.numMasks, k);  // as the reference: enough steps for the labels
  // Data-parallel: the draws are made for the whole group's batch and this rank takes its rows, so an image
  // draws the same whichever rank holds it.
  const dist::StepWindow window = dist::stepWindow(b, /*inGroup=*/update);
  if (window.group) dist::broadcastModelOnce(*window.group, model_.ptr());
  torch::Tensor picks, targetChoices;
  if (config_.objective == Objective::SeqSam) {
    picks = (batch.picks.defined() ? batch.picks.to(torch::kLong) : window.rows(drawPicks(window.globalBatch, m, k, config_.pooling, rng), b)).to(device);
  } else {
    targetChoices = window.rows(drawTargetChoices(window.globalBatch, k, rng), b).to(device);
  }
  cuda::NoSyncScope noSync(device.is_cuda());  // SEQSAM_CUDA_SYNC_CHECK=error: a host wait from here on throws
  const Reduction reduction = lossReduction();
  torch::Tensor labelMask;
  if (config_.objective == Objective::SeqSam) labelMask = setLossMask(batch, labels);
  StepResult result = forwardLoss(embeddings, batch.prompts, labels, labelMask, picks, targetChoices, m);
  torch::Tensor loss = result.loss;
  result.loss = loss.detach();
  optimizer_->zeroGrad();
  // Data-parallel: the gradients' all-reduce starts from hooks while backward runs (SEQSAM_DDP_OVERLAP=0: after it).
  std::optional<dist::GradientBuckets> buckets;
  if (window.group) buckets.emplace(*window.group, optimizer_->params(), loss, b, k, reduction == Reduction::Mean);
  backward(loss);
  if (!update) return result;
  if (buckets) {
    noSync.release();  // the group's checks read a few numbers on the host
    loss = buckets->finish();
    result.loss = loss;
    result.sync = buckets->report();
  }
  // A non-finite loss or gradient must not reach the weights: the update is gated on the device by this
  // flag (no host wait before the step), and the flag is read once the step is queued.
  const auto [finite, norm] = gateAndClip(loss, device);
  optimizer_->step(finite);
  noSync.release();
  if (!finite.item<bool>()) refuseNonFinite(loss, norm);
  return result;
}

// ---- The training step as a CUDA graph -------------------------------------------------------------------
// Thousands of small kernels make an eager step launch-bound on a GPU; recorded once per batch layout and
// replayed as one launch, the same work runs at the GPU's pace. Everything the step reads that changes from
// step to step is a static tensor written before each replay: the batch, the host-drawn picks or target
// choices, and the optimizer's learning rate and bias corrections (AdamW's capturable mode keeps them on
// the device). The recording reads the weights, moments and gradients in place, so in-place changes to them
// (loading weights or an optimizer state, the updates themselves) keep it valid; a new training setup
// builds a new Trainer, and with it new graphs, and the model's precision is part of the key.

bool Trainer::graphable(const Batch& batch, bool update) const {
  if (!update || !config_.cudaGraphs || !cuda::graphsEnabled()) return false;
  const torch::Tensor& input = batch.embeddings.defined() ? batch.embeddings : batch.images;
  if (!input.defined() || !(input.is_cuda() || cuda::graphsEmulated())) return false;
  if (!batch.embeddings.defined() && config_.trainEncoder) return false;  // a trained encoder's step stays eager
  return dist::activeGroup() == nullptr;  // data-parallel steps talk to the group on the host
}

std::optional<StepResult> Trainer::stepGraphed(const Batch& batch) {
  torch::Tensor embeddings = embed(batch);  // a frozen encoder runs eagerly, before the recorded part
  checkBatch(batch, embeddings);
  const int64_t b = embeddings.size(0), k = batch.labels.size(1);
  const int64_t m = std::max(config_.numMasks, k);
  const torch::Device device = embeddings.device();
  const bool seqsam = config_.objective == Objective::SeqSam;
  // The same draws as the eager step (seeded by seed and step number), made on the host, staged below.
  std::mt19937_64 rng = stepDraws();
  torch::Tensor picks, targetChoices;
  if (seqsam) {
    picks = batch.picks.defined() ? batch.picks.to(torch::kLong) : drawPicks(b, m, k, config_.pooling, rng);
  } else {
    targetChoices = drawTargetChoices(b, k, rng);
  }
  const std::string key = cuda::layoutKey({embeddings, batch.labels, picks, targetChoices, batch.prompts.points, batch.prompts.labels,
                                           batch.prompts.boxes}) +
                          precisionName(model_->sam->precision());
  auto& cache = *stepGraphs_;
  if (cache.failed(key)) return std::nullopt;

  torch::Tensor labels = batch.labels.to(device, torch::kFloat);
  torch::Tensor labelMask;
  if (seqsam) labelMask = setLossMask(batch, labels);
  if (picks.defined()) picks = picks.to(device);
  if (targetChoices.defined()) targetChoices = targetChoices.to(device);

  auto* entry = cache.find(key);
  const bool recorded = entry == nullptr;
  if (recorded) {
    const auto copy = cuda::staticInput;
    StepInputs in{copy(embeddings), copy(labels), copy(labelMask), copy(picks), copy(targetChoices),
                  {copy(batch.prompts.points), copy(batch.prompts.labels), copy(batch.prompts.boxes)}, {}};
    auto body = [this, in, m](cuda::GraphPhase phase) -> std::vector<torch::Tensor> {
      model_->train();
      const StepResult forward = forwardLoss(in.embeddings, in.prompts, in.labels, in.labelMask, in.picks, in.targetChoices, m);
      const torch::Tensor& loss = forward.loss;
      // Set to none before the recorded backward: it then writes fresh gradients into tensors of the graph's
      // pool, which every replay refills (never cleared between replays).
      optimizer_->zeroGrad();
      backward(loss);
      const auto [finite, norm] = gateAndClip(loss, in.embeddings.device());
      // The warm-ups leave the weights alone; the recorded update is gated on `finite` on the device.
      if (phase != cuda::GraphPhase::Warmup) optimizer_->step(finite);
      return {loss.detach(), forward.assignment, forward.cost, forward.logits, finite, norm};
    };
    // The rate and step count move to device tensors that the recording reads (adamw.h).
    optimizer_->setCapturable(true);
    optimizer_->stageScalars();
    std::unique_ptr<cuda::CapturedGraph> graph;
    try {
      graph = std::make_unique<cuda::CapturedGraph>(device, body);
    } catch (const std::exception& e) {
      cache.markFailed(key, e.what());
      optimizer_->zeroGrad();
      return std::nullopt;  // this layout trains eagerly from now on
    }
    ++cache.stats.captures;
    if (!graph->replaysHostCode()) {
      optimizer_->retractStep();  // the capture recorded the update without taking it
      for (const auto& [name, p] : optimizer_->params()) in.gradients.push_back(p.grad());
    }
    entry = &cache.insert(key, std::move(in), std::move(graph));
  }
  // From staging to replay the host never waits (SEQSAM_CUDA_SYNC_CHECK=error checks it, as for the eager step).
  cuda::NoSyncScope noSync(device.is_cuda());
  if (!recorded) {  // a new graph's static inputs are this batch already
    const StepInputs& in = entry->statics;
    for (auto [target, source] : {std::pair{in.embeddings, embeddings}, std::pair{in.labels, labels}, std::pair{in.labelMask, labelMask},
                                  std::pair{in.picks, picks}, std::pair{in.targetChoices, targetChoices},
                                  std::pair{in.prompts.points, batch.prompts.points}, std::pair{in.prompts.labels, batch.prompts.labels},
                                  std::pair{in.prompts.boxes, batch.prompts.boxes}}) {
      cuda::writeStaticInput(target, source);
    }
  }

  optimizer_->stageScalars();
  const std::vector<torch::Tensor>& out = entry->graph->replay();
  ++cache.stats.replays;
  noSync.release();
  if (!entry->graph->replaysHostCode()) {
    optimizer_->countReplayedStep();
    // An eager step in between (update: false) sets the gradients to none; the replay refilled these.
    const auto& params = optimizer_->params();
    for (size_t i = 0; i < params.size() && i < entry->statics.gradients.size(); ++i) {
      torch::Tensor p = params[i].second;
      if (!p.grad().is_same(entry->statics.gradients[i])) p.mutable_grad() = entry->statics.gradients[i];
    }
  }
  StepResult result;
  result.loss = out[0].clone();
  if (seqsam) result.picks = entry->statics.picks.clone();
  result.assignment = out[1].clone();
  result.cost = out[2].clone();
  result.logits = out[3].clone();
  if (!out[4].item<bool>()) refuseNonFinite(out[0], out[5]);
  return result;
}

StepResult Trainer::evaluate(const Batch& batch, int64_t numMasks) {
  model_->eval();
  torch::NoGradGuard noGrad;
  torch::Tensor embeddings = embed(batch);
  checkBatch(batch, embeddings);
  const int64_t b = embeddings.size(0);
  torch::Tensor labels = batch.labels.to(embeddings.device(), torch::kFloat);
  torch::Tensor logits;
  if (config_.objective == Objective::SeqSam) {
    logits = model_->rollout(embeddings, batch.prompts, numMasks, Feedback::Backprop).logits;
  } else {
    logits = model_->decodeOnce(embeddings, batch.prompts, config_.objective == Objective::SamMcl).lowResMasks;
  }
  std::mt19937_64 rng(0);
  torch::Tensor picks = drawPicks(b, logits.size(1), labels.size(1), Pooling::All, rng);
  SetLoss set = matchedSetLoss(logits, labels, torch::Tensor(), picks, Matching::Hungarian, config_.reduction.value_or(Reduction::Sum));
  return {set.loss, picks, set.assignment, set.cost, logits, std::nullopt};
}

}  // namespace seqsam::seq
