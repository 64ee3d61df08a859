#include "seqsam/trainer.h"

#include "core/errors.h"
#include "cuda/sync_check.h"
#include "distributed/step_sync.h"

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

// The global L2 norm of the gradients, as a device tensor (0 when no parameter has a gradient).
torch::Tensor gradNorm(const std::vector<std::pair<std::string, torch::Tensor>>& params, const torch::Device& device) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> norms;
  for (const auto& [name, p] : params) {
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  }
  if (norms.empty()) return torch::zeros({}, torch::TensorOptions().device(device));
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
}

// torch::nn::utils::clip_grad_norm_, without its .item(): the scale min(1, max / (norm + 1e-6)) stays a
// device tensor (a factor of exactly 1 leaves the gradients as they are, as the reference's `if` does).
void clipGradNorm(const std::vector<std::pair<std::string, torch::Tensor>>& params, double maxNorm, const torch::Tensor& total) {
  torch::NoGradGuard noGrad;
  torch::Tensor scale = (maxNorm / (total + 1e-6)).clamp_max(1.0);
  for (const auto& [name, p] : params) {
    torch::Tensor g = p.grad();
    if (g.defined()) g.mul_(scale);
  }
}

}  // namespace

StepResult Trainer::step(const Batch& batch, std::optional<double> lr, bool update) {
  model_->train();
  if (lr) optimizer_->options().lr = *lr;
  torch::Tensor embeddings = embed(batch);
  checkBatch(batch, embeddings);
  const int64_t b = embeddings.size(0), k = batch.labels.size(1);
  // Seeded by (seed, step): a resumed run draws exactly what an uninterrupted one would.
  std::mt19937_64 rng(config_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(optimizer_->steps()));
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
  // SeqSAM's set loss sums over the batch, the baselines' winner-takes-all loss averages (as the reference).
  const Reduction reduction = config_.reduction.value_or(config_.objective == Objective::SeqSam ? Reduction::Sum : Reduction::Mean);

  StepResult result;
  torch::Tensor loss;
  if (config_.objective == Objective::SeqSam) {
    Rollout rollout = model_->rollout(embeddings, batch.prompts, m, config_.feedback);
    torch::Tensor mask = batch.labelMask.defined() ? batch.labelMask.to(labels.device(), torch::kFloat) : nonBlankMask(labels);
    SetLoss set = matchedSetLoss(rollout.logits, labels, mask, picks, config_.matching, reduction,
                                 config_.blankMasking);
    loss = set.loss;
    result = {loss.detach(), picks, set.assignment, set.cost.detach(), rollout.logits.detach()};
  } else {
    auto out = model_->decodeOnce(embeddings, batch.prompts, config_.objective == Objective::SamMcl);
    torch::Tensor targets = pickTargetLabels(labels, targetChoices);
    WinnerLoss wta = winnerTakesAllLoss(out.lowResMasks, labels, targets, reduction, config_.baselineDice);
    loss = wta.loss;
    result = {loss.detach(), torch::Tensor(), wta.winner, wta.target, out.lowResMasks.detach()};
  }
  optimizer_->zeroGrad();
  loss.backward();
  if (!update) return result;
  if (window.group) {
    noSync.release();  // the group's layout check reads a few numbers on the host
    loss = dist::reduceGradients(*window.group, optimizer_->params(), loss, b, k, reduction == Reduction::Mean);
    result.loss = loss;
  }
  // A non-finite loss or gradient must not reach the weights: the update is gated on the device by this
  // flag (no host wait before the step), and the flag is read once the step is queued.
  torch::Tensor norm = gradNorm(optimizer_->params(), device);
  torch::Tensor finite = torch::isfinite(loss.detach()).logical_and(torch::isfinite(norm));
  if (config_.gradClip > 0) clipGradNorm(optimizer_->params(), config_.gradClip, norm);
  optimizer_->step(finite);
  noSync.release();
  if (!finite.item<bool>()) {
    optimizer_->retractStep();
    fail(code::kNumeric, "trainStep: the loss (" + std::to_string(loss.item<double>()) + ") or the gradient norm (" +
                             std::to_string(norm.item<double>()) +
                             ") is not finite; the weights and the optimizer state were left unchanged (check the learning rate and the inputs)");
  }
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
  return {set.loss, picks, set.assignment, set.cost, logits};
}

}  // namespace seqsam::seq
