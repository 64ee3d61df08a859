// SeqSAM's recurrent cell: turns [dense prompt embedding, hidden state] into the dense embedding the
// mask decoder sees (conv_o) and the next hidden state (conv_h).
#pragma once
#include <torch/torch.h>

namespace seqsam::seq {

struct CellOutput {
  torch::Tensor dense;   // (B, D, h, w): replaces the prompt encoder's dense embedding
  torch::Tensor hidden;  // (B, D, h, w): the next step's H
};

class RecurrentCellImpl : public torch::nn::Module {
 public:
  explicit RecurrentCellImpl(int64_t dim);

  // dense (B, D, h, w) and hidden (B, D, h, w); H0 is zeros.
  CellOutput forward(const torch::Tensor& dense, const torch::Tensor& hidden);

  torch::nn::Conv2d conv_o{nullptr};
  torch::nn::Conv2d conv_h{nullptr};
};
TORCH_MODULE(RecurrentCell);

}  // namespace seqsam::seq
