#include "seqsam/adamw.h"

#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/errors.h"

namespace seqsam::seq {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, p] : params_) {
    expAvg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    expAvgSq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    decays_.push_back(!isDecayExempt(name, options_.decayExempt));
  }
}

void AdamW::step(const torch::Tensor& apply) {
  torch::NoGradGuard noGrad;
  const int64_t next = steps_ + 1;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(next));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(next));
  const double stepSize = options_.lr / bias1;
  const double sqrtBias2 = std::sqrt(bias2);
  const double decay = 1.0 - options_.lr * options_.weightDecay;
  // Every scalar is checked before the first parameter changes: a float32 tensor op refuses a scalar it
  // cannot represent, and throwing halfway would leave some parameters updated and others not.
  const double limit = static_cast<double>(std::numeric_limits<float>::max());
  for (double v : {stepSize, sqrtBias2, decay}) {
    require(std::isfinite(v) && std::abs(v) <= limit, code::kNumeric,
            "AdamW: lr " + std::to_string(options_.lr) + " with weightDecay " + std::to_string(options_.weightDecay) + " and betas (" +
                std::to_string(options_.beta1) + ", " + std::to_string(options_.beta2) +
                ") gives an update scale outside float32's range; the weights were left unchanged");
  }
  // The update's size is bounded whatever the gradients: by Cauchy–Schwarz over the moving averages,
  // |m|/√v ≤ (1−β1)/√((1−β2)(1−β1²/β2)) when β1² < β2, so |Δp| ≤ stepSize·√bias2 times that. A rate for
  // which even this bound leaves float32's range would write infinities: refused before anything changes.
  if (options_.beta1 * options_.beta1 < options_.beta2) {
    const double ratio = (1.0 - options_.beta1) /
                         std::sqrt((1.0 - options_.beta2) * (1.0 - options_.beta1 * options_.beta1 / options_.beta2));
    const double largestUpdate = stepSize * sqrtBias2 * ratio;
    require(std::isfinite(largestUpdate) && largestUpdate <= limit / 2, code::kNumeric,
            "AdamW: lr " + std::to_string(options_.lr) + " allows updates of up to " + std::to_string(largestUpdate) +
                " per weight, beyond float32's range; the weights were left unchanged");
  }
  steps_ = next;
  // On the CPU the flag costs nothing to read: skip the update outright instead of computing it on copies.
  const bool gated = apply.defined() && !apply.device().is_cpu();
  if (apply.defined() && !gated && !apply.item<bool>()) return;
  auto update = [&](torch::Tensor& p, torch::Tensor& expAvg, torch::Tensor& expAvgSq, const torch::Tensor& g, bool decays) {
    if (decays) p.mul_(decay);
    expAvg.lerp_(g, 1.0 - options_.beta1);
    expAvgSq.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    torch::Tensor denom = (expAvgSq.sqrt() / sqrtBias2).add_(options_.eps);
    p.addcdiv_(expAvg, denom, -stepSize);
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i].second;
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (!gated) {
      update(p, expAvg_[i], expAvgSq_[i], g, decays_[i]);
      continue;
    }
    // On a device, no host wait: the same operations on copies, kept only where `apply` holds (bit-identical
    // to the in-place update).
    torch::Tensor p2 = p.clone(), m = expAvg_[i].clone(), v = expAvgSq_[i].clone();
    update(p2, m, v, g, decays_[i]);
    p.copy_(torch::where(apply, p2, p));
    expAvg_[i].copy_(torch::where(apply, m, expAvg_[i]));
    expAvgSq_[i].copy_(torch::where(apply, v, expAvgSq_[i]));
  }
}

void AdamW::retractStep() {
  if (steps_ > 0) --steps_;
}

void AdamW::zeroGrad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("step", torch::tensor({steps_}, torch::kLong));
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].first + ".exp_avg", expAvg_[i]);
    out.emplace_back(params_[i].first + ".exp_avg_sq", expAvgSq_[i]);
  }
  return out;
}

// Every tensor of `state` this optimizer needs, in the order of its parameters; refuses a state that lacks
// one, gives one another shape, or holds no usable step count, before anything is changed.
std::vector<torch::Tensor> AdamW::checkState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what) const {
  std::unordered_map<std::string, torch::Tensor> byName(state.begin(), state.end());
  auto find = [&](const std::string& name) -> const torch::Tensor& {
    auto it = byName.find(name);
    require(it != byName.end(), code::kCheckpoint, what + ": optimizer state lacks '" + name + "'");
    return it->second;
  };
  std::vector<torch::Tensor> moments;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [suffix, target] : {std::pair{".exp_avg", &expAvg_[i]}, std::pair{".exp_avg_sq", &expAvgSq_[i]}}) {
      const torch::Tensor& t = find(params_[i].first + suffix);
      require(t.sizes() == target->sizes(), code::kCheckpoint,
              what + ": optimizer state '" + params_[i].first + suffix + "' has shape [" + c10::Join(", ", t.sizes()) + "], expected [" +
                  c10::Join(", ", target->sizes()) + "]");
      moments.push_back(t);
    }
  }
  const torch::Tensor& step = find("step");
  require(step.numel() == 1 && !step.is_floating_point() && !step.is_complex() && step.item<int64_t>() >= 0, code::kCheckpoint,
          what + ": optimizer state 'step' must be one non-negative integer");
  moments.push_back(step);
  return moments;
}

void AdamW::loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what) {
  std::vector<torch::Tensor> checked = checkState(state, what);  // all checks first: a refused state changes nothing
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < params_.size(); ++i) {
    expAvg_[i].copy_(checked[2 * i]);
    expAvgSq_[i].copy_(checked[2 * i + 1]);
  }
  steps_ = checked.back().item<int64_t>();
}

}  // namespace seqsam::seq
