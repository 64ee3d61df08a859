#include "seqsam/adamw.h"

#include <ATen/record_function.h>

#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/errors.h"
#include "seqsam/adamw_fused.h"

namespace seqsam::seq {

namespace {

// A float32 step count is exact up to here (the fused kernel reads the count as float).
constexpr int64_t kLargestDeviceStep = int64_t{1} << 24;

}  // namespace

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, p] : params_) {
    expAvg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    expAvgSq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    decays_.push_back(!isDecayExempt(name, options_.decayExempt));
  }
}

AdamWKernels parseAdamWKernels(const std::string& name) {
  if (name == "auto") return AdamWKernels::Auto;
  if (name == "per-tensor") return AdamWKernels::PerTensor;
  if (name == "multi-tensor") return AdamWKernels::MultiTensor;
  if (name == "fused") return AdamWKernels::Fused;
  fail(code::kArgument, "AdamW kernels must be 'auto', 'per-tensor', 'multi-tensor' or 'fused' (got '" + name + "')");
}

torch::Device AdamW::device() const { return params_.empty() ? torch::Device(torch::kCPU) : params_.front().second.device(); }

AdamWConstants AdamW::constants() const { return {options_.beta1, options_.beta2, options_.eps}; }

AdamWLists AdamW::gradientLists() {
  AdamWLists lists;
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& g = params_[i].second.grad();
    if (!g.defined()) continue;
    lists.params.push_back(params_[i].second);
    lists.grads.push_back(g);
    lists.expAvgs.push_back(expAvg_[i]);
    lists.expAvgSqs.push_back(expAvgSq_[i]);
    lists.decays.push_back(decays_[i]);
  }
  return lists;
}

AdamWStepScalars AdamW::checkedHostScalars(double lr, int64_t step) const {
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step));
  const double stepSize = lr / bias1;
  const double sqrtBias2 = std::sqrt(bias2);
  const double decay = 1.0 - lr * options_.weightDecay;
  // Every scalar is checked before the first parameter changes: a float32 tensor op refuses a scalar it
  // cannot represent, and throwing halfway would leave some parameters updated and others not.
  const double limit = static_cast<double>(std::numeric_limits<float>::max());
  for (double v : {stepSize, sqrtBias2, decay}) {
    require(std::isfinite(v) && std::abs(v) <= limit, code::kNumeric,
            "AdamW: lr " + std::to_string(lr) + " with weightDecay " + std::to_string(options_.weightDecay) + " and betas (" +
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
            "AdamW: lr " + std::to_string(lr) + " allows updates of up to " + std::to_string(largestUpdate) +
                " per weight, beyond float32's range; the weights were left unchanged");
  }
  AdamWStepScalars scalars;
  scalars.decay.host = decay;
  scalars.sqrtBias2.host = sqrtBias2;
  scalars.negStepSize.host = -stepSize;
  return scalars;
}

void AdamW::step(const torch::Tensor& apply) {
  RECORD_USER_SCOPE("seqsam::adamw");
  torch::NoGradGuard noGrad;
  if (capturable_) return stepCapturable(apply);
  const int64_t next = steps_ + 1;
  const AdamWStepScalars scalars = checkedHostScalars(options_.lr, next);
  const bool multiTensor = kernelsForNextStep() == AdamWKernels::MultiTensor;
  steps_ = next;
  // On the CPU the flag costs nothing to read: skip the update outright instead of computing it on copies.
  const bool gated = apply.defined() && !apply.device().is_cpu();
  if (apply.defined() && !gated && !apply.item<bool>()) return;
  AdamWLists lists = gradientLists();
  update(lists, scalars, gated ? apply : torch::Tensor(), multiTensor);
}

void AdamW::update(AdamWLists& lists, const AdamWStepScalars& scalars, const torch::Tensor& apply, bool multiTensor) {
  if (!apply.defined()) return applyAdamW(lists, scalars, constants(), multiTensor);
  // No host wait: the same operations on copies, kept only where `apply` holds (bit-identical to the
  // in-place update where it does, the old values bit for bit where it does not). The copies are made a
  // slice of the parameters at a time, so a trained encoder's do not all exist at once.
  constexpr int64_t kSliceElements = int64_t{1} << 25;
  for (size_t begin = 0; begin < lists.params.size();) {
    AdamWLists work;
    int64_t elements = 0;
    size_t end = begin;
    for (; end < lists.params.size() && (end == begin || elements + lists.params[end].numel() <= kSliceElements); ++end) {
      elements += lists.params[end].numel();
      work.params.push_back(lists.params[end].clone());
      work.grads.push_back(lists.grads[end]);
      work.expAvgs.push_back(lists.expAvgs[end].clone());
      work.expAvgSqs.push_back(lists.expAvgSqs[end].clone());
      work.decays.push_back(lists.decays[end]);
    }
    applyAdamW(work, scalars, constants(), multiTensor);
    for (size_t i = begin; i < end; ++i) {
      at::where_out(lists.params[i], apply, work.params[i - begin], lists.params[i]);
      at::where_out(lists.expAvgs[i], apply, work.expAvgs[i - begin], lists.expAvgs[i]);
      at::where_out(lists.expAvgSqs[i], apply, work.expAvgSqs[i - begin], lists.expAvgSqs[i]);
    }
    begin = end;
  }
}

void AdamW::stepCapturable(const torch::Tensor& apply) {
  require(steps_ < kLargestDeviceStep, code::kNumeric,
          "AdamW: capturable mode counts steps in float32, exact up to " + std::to_string(kLargestDeviceStep) + " steps");
  require(!apply.defined() || apply.device() == step_.device(), code::kDevice,
          "AdamW: in capturable mode the step's flag must be on the parameters' device");
  const AdamWKernels kernels = kernelsForNextStep();
  AdamWLists lists = gradientLists();
  // Counted on the device only where the update applies, on the host always (retractStep() undoes that).
  if (apply.defined()) {
    step_.add_(apply);
  } else {
    step_.add_(1);
  }
  ++steps_;
  if (lists.params.empty()) return;
  if (kernels == AdamWKernels::Fused) {
    const torch::Tensor skip = apply.defined() ? apply.logical_not().to(torch::kFloat) : torch::Tensor();
    return fusedAdamW(lists, step_, lr_, skip, options_.weightDecay, constants());
  }
  // The step's scalars from the device count and rate, in float64 (see setCapturable), as step() computes
  // them on the host. Gated off, the count stands still and the scalars may be infinite: the update is
  // computed on copies and dropped.
  const torch::Tensor t = step_.to(torch::kDouble);
  const torch::Tensor lr = lr_.to(torch::kDouble);
  const torch::Tensor bias1 = torch::pow(options_.beta1, t).neg_().add_(1);
  const torch::Tensor bias2 = torch::pow(options_.beta2, t).neg_().add_(1);
  // Rounded once to the parameters' dtype, as the elementwise kernels would round them anyway: a _foreach_
  // op with a tensor scalar takes its multi-tensor path only for a scalar of the list's dtype.
  const auto dtype = lists.params.front().scalar_type();
  AdamWStepScalars scalars;
  scalars.decay.device = lr.mul(options_.weightDecay).neg_().add_(1).to(dtype);
  scalars.sqrtBias2.device = bias2.sqrt().to(dtype);
  scalars.negStepSize.device = lr.div(bias1).neg_().to(dtype);
  update(lists, scalars, apply, kernels == AdamWKernels::MultiTensor);
}

void AdamW::setCapturable(bool on) {
  if (on == capturable_) return;  // a captured graph keeps reading the tensors it was captured with
  if (!on) {
    capturable_ = false;
    lr_ = torch::Tensor();
    step_ = torch::Tensor();
    return;
  }
  require(steps_ < kLargestDeviceStep, code::kArgument,
          "AdamW: capturable mode counts steps in float32, exact up to " + std::to_string(kLargestDeviceStep) + " steps; this run is at " +
              std::to_string(steps_));
  checkedHostScalars(options_.lr, steps_ + 1);  // the rate staged here must pass stageScalars()'s check too
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(device());
  torch::Tensor lr = torch::full({}, options_.lr, options);
  torch::Tensor step = torch::full({}, static_cast<double>(steps_), options);
  lr_ = lr;
  step_ = step;
  capturable_ = true;
}

void AdamW::stageScalars() {
  if (!capturable_) return;
  checkedHostScalars(options_.lr, steps_ + 1);  // refuses a rate whose update would leave float32's range
  lr_.fill_(options_.lr);
}

void AdamW::countReplayedStep() {
  require(capturable_, code::kArgument, "AdamW: a replayed step is counted in capturable mode only");
  ++steps_;
}

void AdamW::setKernels(AdamWKernels kernels) {
  require(kernels != AdamWKernels::Fused || fusedAdamWAvailable(device()), code::kArgument,
          "AdamW: the fused kernel needs CUDA parameters and LibTorch 2.2 or later");
  kernels_ = kernels;
}

AdamWKernels AdamW::kernelsForNextStep() const {
  const torch::Device d = device();
  switch (kernels_) {
    case AdamWKernels::Auto:
      if (capturable_ && fusedAdamWAvailable(d)) return AdamWKernels::Fused;
      return d.is_cpu() ? AdamWKernels::PerTensor : AdamWKernels::MultiTensor;
    case AdamWKernels::Fused:
      require(capturable_ && fusedAdamWAvailable(d), code::kArgument,
              "AdamW: the fused kernel runs in capturable mode only, with CUDA parameters on LibTorch 2.2 or later");
      return AdamWKernels::Fused;
    default:
      return kernels_;
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
  require(!capturable_ || step.item<int64_t>() < kLargestDeviceStep, code::kCheckpoint,
          what + ": optimizer state 'step' " + std::to_string(step.item<int64_t>()) + " is beyond the " +
              std::to_string(kLargestDeviceStep) + " steps capturable mode counts exactly");
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
  if (capturable_) step_.fill_(static_cast<double>(steps_));
}

}  // namespace seqsam::seq
