// Building blocks shared by the SAM modules.
#pragma once
#include <torch/torch.h>

namespace seqsam::sam {

// LayerNorm over the channel axis of an NCHW tensor (SAM's LayerNorm2d, eps 1e-6 by default). Computed in
// float32 whatever the input's and the weights' types; the result comes back in the weights' type.
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  explicit LayerNorm2dImpl(int64_t channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

// nn::LayerNorm in its weights' type whatever the input's. float32 weights: CUDA autocast does that itself
// (layer_norm is on its float32 list); CPU autocast in LibTorch 1.13 hands it bf16 inputs and fails. bf16
// weights (a held bf16 copy): bf16 in and out; the CUDA kernel accumulates in float32, LibTorch 1.13's CPU
// one does not (rows of mean 10, std 0.1 come out with relative error 0.17), so on the CPU the statistics
// are taken in float32 and only the result is stored in bf16.
torch::Tensor layerNorm(torch::nn::LayerNorm& norm, const torch::Tensor& x);

enum class Activation { kGelu, kRelu };

// Transformer feed-forward: lin2(act(lin1(x))). The ViT uses GELU, the two-way transformer ReLU.
class MLPBlockImpl : public torch::nn::Module {
 public:
  MLPBlockImpl(int64_t embeddingDim, int64_t mlpDim, Activation act);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear lin1{nullptr};
  torch::nn::Linear lin2{nullptr};

 private:
  Activation act_;
};
TORCH_MODULE(MLPBlock);

// The mask decoder's MLP: `layers.0..n-1` Linear, ReLU between them, optional sigmoid at the end.
class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t inputDim, int64_t hiddenDim, int64_t outputDim, int64_t numLayers, bool sigmoidOutput = false);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::ModuleList layers_;
  std::vector<torch::nn::Linear> linears_;
  bool sigmoidOutput_;
};
TORCH_MODULE(MLP);

}  // namespace seqsam::sam
