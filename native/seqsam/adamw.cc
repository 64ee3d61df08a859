#include "seqsam/adamw.h"

#include <cmath>
#include <unordered_map>

#include "core/errors.h"

namespace seqsam::seq {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, p] : params_) {
    expAvg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    expAvgSq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
  }
}

void AdamW::step() {
  torch::NoGradGuard noGrad;
  ++steps_;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  const double stepSize = options_.lr / bias1;
  const double sqrtBias2 = std::sqrt(bias2);
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i].second;
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    p.mul_(1.0 - options_.lr * options_.weightDecay);
    expAvg_[i].lerp_(g, 1.0 - options_.beta1);
    expAvgSq_[i].mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    torch::Tensor denom = (expAvgSq_[i].sqrt() / sqrtBias2).add_(options_.eps);
    p.addcdiv_(expAvg_[i], denom, -stepSize);
  }
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

void AdamW::loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what) {
  std::unordered_map<std::string, torch::Tensor> byName(state.begin(), state.end());
  auto find = [&](const std::string& name) -> const torch::Tensor& {
    auto it = byName.find(name);
    require(it != byName.end(), code::kCheckpoint, what + ": optimizer state lacks '" + name + "'");
    return it->second;
  };
  torch::NoGradGuard noGrad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (auto [suffix, target] : {std::pair{".exp_avg", &expAvg_[i]}, std::pair{".exp_avg_sq", &expAvgSq_[i]}}) {
      const torch::Tensor& t = find(params_[i].first + suffix);
      require(t.sizes() == target->sizes(), code::kCheckpoint,
              what + ": optimizer state '" + params_[i].first + suffix + "' has shape [" + c10::Join(", ", t.sizes()) + "], expected [" +
                  c10::Join(", ", target->sizes()) + "]");
      target->copy_(t);
    }
  }
  steps_ = find("step").item<int64_t>();
}

}  // namespace seqsam::seq
