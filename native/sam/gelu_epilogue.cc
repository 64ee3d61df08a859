#include "sam/gelu_epilogue.h"

#include "core/env_switch.h"

namespace seqsam::sam {

namespace {

// Whether linearGelu fuses for these weights in the current grad mode (see the header).
bool useGeluEpilogue(const torch::Tensor& weight) {
  if (torch::GradMode::is_enabled() || envIs("SEQSAM_GELU_EPILOGUE", "0")) return false;
  return envIs("SEQSAM_GELU_EPILOGUE", "1") || (weight.is_cuda() && weight.scalar_type() == torch::kBFloat16);
}

}  // namespace

torch::Tensor linearGelu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  // Mixed types (an autocast pass on float32 weights) stay with linear, which autocast casts for.
  const bool fused = useGeluEpilogue(weight) && bias.defined() && x.scalar_type() == weight.scalar_type() &&
                     bias.scalar_type() == weight.scalar_type();
  if (!fused) {
    auto h = torch::linear(x, weight, bias);
    return torch::GradMode::is_enabled() ? torch::gelu(h) : torch::gelu_(h);
  }
  // The epilogue wants 2-D rows and a 1-D bias.
  const int64_t in = x.size(-1), out = weight.size(0);
  auto y = at::_addmm_activation(bias, x.reshape({-1, in}), weight.t(), 1, 1, /*use_gelu=*/true);
  auto sizes = x.sizes().vec();
  sizes.back() = out;
  return y.view(sizes);
}

}  // namespace seqsam::sam
