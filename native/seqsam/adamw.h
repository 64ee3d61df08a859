// AdamW (decoupled weight decay), as torch.optim.AdamW, with state that is plain named tensors so a
// checkpoint can hold it and a resumed run continues exactly.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "seqsam/adamw_update.h"
#include "seqsam/decay_exemption.h"

namespace seqsam::seq {

struct AdamWOptions {
  double lr = 1e-4;
  double weightDecay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Parameters left out of the decay (by name); the choice is fixed when the optimizer is built.
  DecayExemption decayExempt = DecayExemption::None;
};

// How a step's arithmetic is issued.
enum class AdamWKernels {
  Auto,         // per tensor on the CPU; on a device multi-tensor ops, or the fused kernel in capturable mode where it exists
  PerTensor,    // one op per tensor and stage (on the CPU the fastest: each tensor stays in cache through its stages)
  MultiTensor,  // _foreach_ ops: a few kernel launches per stage on a device; bit-identical to PerTensor on the CPU
  Fused,        // at::_fused_adamw_: capturable mode with CUDA parameters on LibTorch ≥ 2.2 only
};

// "auto", "per-tensor", "multi-tensor" or "fused".
AdamWKernels parseAdamWKernels(const std::string& name);

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  // One update from the gradients now in the parameters; parameters without a gradient are skipped.
  // `apply`, when defined, is a 0-d bool tensor on the parameters' device: where it is false the parameters
  // and moments keep their values, decided on the device so the host never waits for the flag. A step
  // gated off that way is still counted until `retractStep()`.
  void step(const torch::Tensor& apply = torch::Tensor());
  // Forgets the last step() (its update was gated off): the step count, and so the bias corrections and the
  // trainer's per-step random draws, continue as if it had never been taken. In capturable mode only the host
  // count changes: a gated-off step never advanced the device's.
  void retractStep();
  void zeroGrad();

  // Capturable mode, for a step captured once in a CUDA graph and replayed: the learning rate and the step
  // count live as 0-d float32 tensors on the parameters' device (float32 because LibTorch's fused kernel reads
  // both as float; a float32 count is exact up to 2^24 steps, and the rate's rounding to float32 changes an
  // update by at most 2^-24 of itself). step() then derives the bias corrections and the step size on the
  // device (in float64, as the fused kernel does: 1 − β2^t in float32 would lose most of its digits to
  // cancellation early on), never reads a host value that changes between steps, and never waits for the
  // device; `apply` false leaves the device count where it was. The host count steps() still advances in
  // step() and retractStep() takes it back, so the two agree after each step. A captured step keeps the
  // parameters that held a gradient when it was captured, and their gradient tensors: a replay reads those.
  // With CUDA parameters on LibTorch ≥ 2.2 the update is at::_fused_adamw_ (one kernel per decay group,
  // `apply` passed as its found_inf); elsewhere the gate selects between the old values and an update
  // computed on copies.
  void setCapturable(bool on);
  bool capturable() const { return capturable_; }
  // Writes options().lr into the device rate (capturable mode; nothing to do otherwise). Call it before every
  // step or replay, outside a capture: it also refuses a rate whose update would leave float32's range.
  void stageScalars();
  // A replayed graph ran a step on the device only: counts it on the host as step() would.
  void countReplayedStep();
  // The device tensors a captured step reads (capturable mode; undefined otherwise).
  const torch::Tensor& deviceLr() const { return lr_; }
  const torch::Tensor& deviceStep() const { return step_; }

  void setKernels(AdamWKernels kernels);
  AdamWKernels kernels() const { return kernels_; }
  // What the next step() will use: Auto resolved, Fused checked against the mode and the device.
  AdamWKernels kernelsForNextStep() const;

  AdamWOptions& options() { return options_; }
  int64_t steps() const { return steps_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& params() const { return params_; }
  // Whether the i-th parameter decays (false: exempt under options().decayExempt).
  bool decays(size_t i) const { return decays_[i]; }

  // "<param>.exp_avg" / "<param>.exp_avg_sq" per parameter, plus "step".
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Checks all of `state` against the parameters, then applies it: a refused state leaves the optimizer as it was.
  void loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what);
  // The checks of loadState alone (nothing changes); returns the tensors it would copy.
  std::vector<torch::Tensor> checkState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what) const;

 private:
  torch::Device device() const;
  AdamWConstants constants() const;
  // The parameters holding a gradient, with their moments.
  AdamWLists gradientLists();
  // The host scalars of step `step` at rate `lr`; refuses (before anything changes) a rate whose update
  // would leave float32's range.
  AdamWStepScalars checkedHostScalars(double lr, int64_t step) const;
  void stepCapturable(const torch::Tensor& apply);
  // The update, in place; with `apply` defined, computed on copies and kept only where it holds.
  void update(AdamWLists& lists, const AdamWStepScalars& scalars, const torch::Tensor& apply, bool multiTensor);

  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> expAvg_, expAvgSq_;
  std::vector<bool> decays_;
  AdamWOptions options_;
  int64_t steps_ = 0;
  AdamWKernels kernels_ = AdamWKernels::Auto;
  bool capturable_ = false;
  torch::Tensor lr_, step_;  // capturable mode: 0-d float32 on the parameters' device
};

}  // namespace seqsam::seq
