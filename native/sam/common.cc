#include "sam/common.h"

#include <algorithm>

#include "core/env_switch.h"
#include "core/precision.h"
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

namespace {

// SEQSAM_LAYER_NORM_2D=fused or =explicit forces one form (tests, benchmarks).
bool fusedLayerNorm2d(const torch::Device& device) {
  if (envIs("SEQSAM_LAYER_NORM_2D", "fused")) return true;
  if (envIs("SEQSAM_LAYER_NORM_2D", "explicit")) return false;
  return !device.is_cpu();
}

}  // namespace

torch::Tensor LayerNorm2dImpl::forward(const torch::Tensor& x) {
  // In float32 whatever the input's and weights' types and whatever autocast would pick (LibTorch 1.13's
  // CPU autocast hands layer_norm bf16); the result comes back in the weights' type.
  const auto type = weight.scalar_type();
  NoAutocastScope float32;
  const torch::Tensor& in = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
  const auto w = weight.to(torch::kFloat), b = bias.to(torch::kFloat);
  torch::Tensor out;
  if (fusedLayerNorm2d(x.device())) {
    // One layer_norm over the channel axis made last (and two layout copies): three kernels where the
    // written-out formula takes eight, forward and backward alike, for a GPU that launches them one by one.
    out = torch::layer_norm(in.permute({0, 2, 3, 1}), {w.size(0)}, w, b, eps_).permute({0, 3, 1, 2}).contiguous();
  } else {
    // The reference's arithmetic written out (biased variance over C): on the CPU faster than layer_norm over
    // SAM's short channel rows (16 to 256 values) plus the layout copies.
    auto centred = in - in.mean(1, /*keepdim=*/true);
    auto var = centred.square().mean(1, /*keepdim=*/true);
    auto y = centred * torch::rsqrt(var + eps_);
    out = torch::addcmul(b.view({1, -1, 1, 1}), y, w.view({1, -1, 1, 1}));
  }
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
