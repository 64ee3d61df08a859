#include "seqsam/recurrent_cell.h"

namespace seqsam::seq {

RecurrentCellImpl::RecurrentCellImpl(int64_t dim) {
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

CellOutput RecurrentCellImpl::forward(const torch::Tensor& dense, const torch::Tensor& hidden) {
  torch::Tensor combined = torch::cat({dense, hidden}, 1);
  return {conv_o->forward(combined), conv_h->forward(combined)};
}

}  // namespace seqsam::seq
