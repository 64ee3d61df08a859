#include "sam/common.h"

#include <algorithm>

#include "sam/gelu_epilogue.h"

namespace seqsam::sam {

torch::Tensor layerNorm(torch::nn::LayerNorm& norm, const torch::Tensor& x) {
  const auto type = norm->weight.defined() ? norm->weight.scalar_type() : torch::kFloat;
  if (type == torch::kBFloat16 && x.is_cpu()) {
    const auto& o = norm->options;
    auto inFloat32 = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat) : t; };
    return torch::layer_norm(x.to(torch::kFloat), o.normalized_shape(), inFloat32(norm->weight), inFloat32(norm->bias), o.eps())
        .to(type);
  }
  return norm->forward(x.scalar_type() == type ? x : x.to(type));
}

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  // Same arithmetic as the reference (biased variance over C), so results match to float rounding; in
  // float32 under bf16 autocast too, like nn::LayerNorm (see layerNorm above), and for held bf16 weights
  // (one rounding, of the result, as a fused kernel would).
  const auto type = weight.scalar_type();
  const torch::Tensor& in = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
  auto centred = in - in.mean(1, /*keepdim=*/true);
  auto var = centred.square().mean(1, /*keepdim=*/true);
  auto y = centred * torch::rsqrt(var + eps_);
  auto out = torch::addcmul(bias.to(torch::kFloat).view({1, -1, 1, 1}), y, weight.to(torch::kFloat).view({1, -1, 1, 1}));
  return type == torch::kFloat ? out : out.to(type);
}

MLPBlockImpl::MLPBlockImpl(int64_t embeddingDim, int64_t mlpDim, Activation act) : act_(act) {
  lin1 = register_module("lin1", torch::nn::Linear(embeddingDim, mlpDim));
  lin2 = register_module("lin2", torch::nn::Linear(mlpDim, embeddingDim));
}

torch::Tensor MLPBlockImpl::forward(const torch::Tensor& x) {
  const bool inference = !torch::GradMode::is_enabled();
  auto run = [&](const torch::Tensor& rows) {
    if (act_ == Activation::kGelu) return lin2->forward(linearGelu(rows, lin1->weight, lin1->bias));
    auto h = lin1->forward(rows);
    return lin2->forward(inference ? torch::relu_(h) : torch::relu(h));
  };
  // The hidden activations are the ViT's largest temporaries (4096 x 3072 floats per image). In CPU
  // inference, run them in row chunks: small enough for the allocator to recycle (no fresh page faults
  // per block) and friendlier to the cache; the GEMMs stay large.
  constexpr int64_t kRowsPerChunk = 1024;
  const int64_t rows = x.numel() / x.size(-1);
  if (!inference || !x.device().is_cpu() || rows <= 2 * kRowsPerChunk) return run(x);
  auto flat = x.reshape({rows, x.size(-1)});
  std::vector<torch::Tensor> parts;
  for (int64_t r = 0; r < rows; r += kRowsPerChunk) parts.push_back(run(flat.slice(0, r, std::min(rows, r + kRowsPerChunk))));
  auto sizes = x.sizes().vec();
  sizes.back() = parts[0].size(-1);
  return torch::cat(parts, 0).view(sizes);
}

MLPImpl::MLPImpl(int64_t inputDim, int64_t hiddenDim, int64_t outputDim, int64_t numLayers, bool sigmoidOutput)
    : sigmoidOutput_(sigmoidOutput) {
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < numLayers; ++i) {
    int64_t in = i == 0 ? inputDim : hiddenDim;
    int64_t out = i == numLayers - 1 ? outputDim : hiddenDim;
    linears_.emplace_back(in, out);
    layers_->push_back(linears_.back());
  }
}

torch::Tensor MLPImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < linears_.size(); ++i) {
    x = linears_[i]->forward(x);
    if (i + 1 < linears_.size()) x = torch::relu(x);
  }
  return sigmoidOutput_ ? torch::sigmoid(x) : x;
}

}  // namespace seqsam::sam
