#include "seqsam/recurrent_cell.h"

#include "core/precision.h"

namespace seqsam::seq {

namespace F = torch::nn::functional;

RecurrentCellImpl::RecurrentCellImpl(int64_t dim) : dim_(dim) {
  auto conv = [dim] { return torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * dim, dim, 3).padding(1)); };
  conv_o = register_module("conv_o", conv());
  conv_h = register_module("conv_h", conv());
  // Kaiming (fan-in) weights and near-zero biases, as the reference initialises its convolutions.
  torch::NoGradGuard noGrad;
  for (auto* c : {&conv_o, &conv_h}) {
    torch::nn::init::kaiming_normal_((*c)->weight, 0.0, torch::kFanIn, torch::kReLU);
    (*c)->bias.normal_(0.0, 0.001).clamp_(-0.002, 0.002);
  }
}

std::pair<torch::Tensor, torch::Tensor> RecurrentCellImpl::weights(bool withHidden) const {
  if (!withHidden) return {conv_o->weight, conv_o->bias};
  return {torch::cat({conv_o->weight, conv_h->weight}, 0), torch::cat({conv_o->bias, conv_h->bias}, 0)};
}

CellOutput RecurrentCellImpl::split(torch::Tensor out, bool withHidden) const {
  if (!withHidden) return {out, torch::Tensor()};
  auto parts = out.split(dim_, 1);
  return {parts[0], parts[1]};
}

torch::Tensor RecurrentCellImpl::constantResponse(const torch::Tensor& taps, int64_t height, int64_t width) {
  torch::Tensor ones = torch::ones({1, 1, height, width}, taps.options());
  return F::conv2d(ones, taps.unsqueeze(1), F::Conv2dFuncOptions().padding(1));  // (1, O, h, w)
}

CellOutput RecurrentCellImpl::forward(const torch::Tensor& dense, const torch::Tensor& hidden, bool withHidden) {
  auto [weight, bias] = weights(withHidden);
  CpuConvolutionScope conv(torch::cat({dense, hidden}, 1));
  return split(F::conv2d(conv.input(), weight, F::Conv2dFuncOptions().bias(bias).padding(1)), withHidden);
}

CellOutput RecurrentCellImpl::forwardConstant(const torch::Tensor& vector, int64_t batch, int64_t height, int64_t width, bool withHidden) {
  // Weight folding and a constant response: float32 even under bf16 autocast (tiny, and sums over D).
  NoAutocastScope float32;
  auto [weight, bias] = weights(withHidden);
  // Only the dense half of the input channels sees a non-zero input (H0 = 0).
  torch::Tensor taps = torch::einsum("oikl,i->okl", {weight.narrow(1, 0, dim_), vector.reshape({dim_})});  // (O, 3, 3)
  torch::Tensor out = constantResponse(taps, height, width) + bias.view({1, -1, 1, 1});
  return split(out.expand({batch, out.size(1), height, width}), withHidden);
}

CellOutput RecurrentCellImpl::forwardFactored(const torch::Tensor& features, const torch::Tensor& projWeight, const torch::Tensor& projBias,
                                              const torch::Tensor& hidden, bool withHidden) {
  auto [weight, bias] = weights(withHidden);
  torch::Tensor denseWeight = weight.narrow(1, 0, dim_);  // (O, D, 3, 3)
  torch::Tensor combined, biasResponse;
  {
    // The folded weights: float32 even under bf16 autocast (tiny, and sums over D that bf16 would round).
    NoAutocastScope float32;
    torch::Tensor featureWeight = torch::einsum("oikl,ij->ojkl", {denseWeight, projWeight.flatten(1)});  // (O, F, 3, 3)
    combined = torch::cat({featureWeight, weight.narrow(1, dim_, dim_)}, 1);
    biasResponse = constantResponse(torch::einsum("oikl,i->okl", {denseWeight, projBias}), features.size(2), features.size(3));
  }
  CpuConvolutionScope conv(torch::cat({features, hidden}, 1));
  torch::Tensor out = F::conv2d(conv.input(), combined, F::Conv2dFuncOptions().bias(bias).padding(1));
  return split(out + biasResponse, withHidden);
}

}  // namespace seqsam::seq
