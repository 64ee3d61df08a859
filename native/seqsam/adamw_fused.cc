#include "seqsam/adamw_fused.h"

#include <utility>
#include <vector>

#include "core/errors.h"

namespace seqsam::seq {

bool fusedAdamWAvailable(const torch::Device& device) {
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

void fusedAdamW(const AdamWLists& lists, const torch::Tensor& step, const torch::Tensor& lr, const torch::Tensor& skip,
                double weightDecay, const AdamWConstants& constants) {
  require(!lists.params.empty() && fusedAdamWAvailable(lists.params.front().device()), code::kArgument,
          "AdamW: the fused kernel needs CUDA parameters and LibTorch 2.2 or later");
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
  torch::NoGradGuard noGrad;
  // The kernel takes one weight decay and one dtype per call: decaying and exempt parameters apart.
  std::vector<std::pair<std::pair<bool, c10::ScalarType>, AdamWLists>> groups;
  for (size_t i = 0; i < lists.params.size(); ++i) {
    const std::pair<bool, c10::ScalarType> key{lists.decays[i], lists.params[i].scalar_type()};
    auto it = groups.begin();
    while (it != groups.end() && it->first != key) ++it;
    if (it == groups.end()) it = groups.insert(groups.end(), {key, AdamWLists{}});
    AdamWLists& g = it->second;
    g.params.push_back(lists.params[i]);
    g.grads.push_back(lists.grads[i]);
    g.expAvgs.push_back(lists.expAvgs[i]);
    g.expAvgSqs.push_back(lists.expAvgSqs[i]);
  }
  for (const auto& [key, g] : groups) {
    // One step count for all: the kernel reads each tensor's through a pointer, so they may share one.
    const std::vector<torch::Tensor> steps(g.params.size(), step);
    const double decay = key.first ? weightDecay : 0.0;
    if (skip.defined()) {
      at::_fused_adamw_(g.params, g.grads, g.expAvgs, g.expAvgSqs, at::TensorList(), steps, lr, constants.beta1, constants.beta2, decay,
                        constants.eps, /*amsgrad=*/false, /*maximize=*/false, /*grad_scale=*/{}, /*found_inf=*/skip);
    } else {
      at::_fused_adamw_(g.params, g.grads, g.expAvgs, g.expAvgSqs, at::TensorList(), steps, lr, constants.beta1, constants.beta2, decay,
                        constants.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
  }
#endif
}

}  // namespace seqsam::seq
