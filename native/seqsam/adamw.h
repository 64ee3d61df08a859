// AdamW (decoupled weight decay), as torch.optim.AdamW, with state that is plain named tensors so a
// checkpoint can hold it and a resumed run continues exactly.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

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

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  // One update from the gradients now in the parameters; parameters without a gradient are skipped.
  // `apply`, when defined, is a 0-d bool tensor on the parameters' device: where it is false the parameters
  // and moments keep their values, decided on the device so the host never waits for the flag. A step
  // gated off that way is still counted until `retractStep()`.
  void step(const torch::Tensor& apply = torch::Tensor());
  // Forgets the last step() (its update was gated off): the step count, and so the bias corrections and the
  // trainer's per-step random draws, continue as if it had never been taken.
  void retractStep();
  void zeroGrad();

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
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> expAvg_, expAvgSq_;
  std::vector<bool> decays_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace seqsam::seq
