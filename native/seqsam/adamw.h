// AdamW (decoupled weight decay), as torch.optim.AdamW, with state that is plain named tensors so a
// checkpoint can hold it and a resumed run continues exactly.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::seq {

struct AdamWOptions {
  double lr = 1e-4;
  double weightDecay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> params, AdamWOptions options);

  // One update from the gradients now in the parameters; parameters without a gradient are skipped.
  void step();
  void zeroGrad();

  AdamWOptions& options() { return options_; }
  int64_t steps() const { return steps_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& params() const { return params_; }

  // "<param>.exp_avg" / "<param>.exp_avg_sq" per parameter, plus "step".
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void loadState(const std::vector<std::pair<std::string, torch::Tensor>>& state, const std::string& what);

 private:
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<torch::Tensor> expAvg_, expAvgSq_;
  AdamWOptions options_;
  int64_t steps_ = 0;
};

}  // namespace seqsam::seq
