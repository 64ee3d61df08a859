// SeqSAM's recurrent cell: turns [dense prompt embedding, hidden state] into the dense embedding the
// mask decoder sees (conv_o) and the next hidden state (conv_h).
#pragma once
#include <torch/torch.h>

namespace seqsam::seq {

struct CellOutput {
  torch::Tensor dense;   // (B, D, h, w): replaces the prompt encoder's dense embedding
  torch::Tensor hidden;  // (B, D, h, w): the next step's H (undefined when not asked for)
};

class RecurrentCellImpl : public torch::nn::Module {
 public:
  explicit RecurrentCellImpl(int64_t dim);

  // dense (B, D, h, w) and hidden (B, D, h, w). conv_o and conv_h read the same input, so they run as
  // one convolution with 2D outputs; `withHidden = false` (the last step) skips conv_h.
  CellOutput forward(const torch::Tensor& dense, const torch::Tensor& hidden, bool withHidden = true);

  // The first step, exactly: the dense input is one D-vector at every position (SAM's no-mask embedding)
  // and H0 = 0, so each output position is the bias plus the weights of its in-image taps applied to that
  // vector — a 3×3 convolution of a ones image by D-channel-summed kernels, ~500× fewer operations.
  CellOutput forwardConstant(const torch::Tensor& vector, int64_t batch, int64_t height, int64_t width, bool withHidden = true);

  // A later step, exactly, with the dense embedding left factored: SAM's mask prompt ends in a 1×1
  // convolution (features (B, F, h, w) → projWeight (D, F, 1, 1) · features + projBias), and a 3×3
  // convolution after a 1×1 one is a 3×3 convolution from the F = 16 feature channels. The cell then reads
  // F + D channels instead of 2D (272 instead of 512 for real SAM); the bias part, constant inside the
  // image and zero in the padding, goes through the ones-image convolution of forwardConstant.
  CellOutput forwardFactored(const torch::Tensor& features, const torch::Tensor& projWeight, const torch::Tensor& projBias,
                             const torch::Tensor& hidden, bool withHidden = true);

  torch::nn::Conv2d conv_o{nullptr};
  torch::nn::Conv2d conv_h{nullptr};

 private:
  std::pair<torch::Tensor, torch::Tensor> weights(bool withHidden) const;
  // conv2d(ones(1, 1, h, w), taps, padding 1): where a spatially constant input, zero-padded, lands.
  static torch::Tensor constantResponse(const torch::Tensor& taps, int64_t height, int64_t width);
  CellOutput split(torch::Tensor out, bool withHidden) const;
  int64_t dim_;
};
TORCH_MODULE(RecurrentCell);

}  // namespace seqsam::seq
