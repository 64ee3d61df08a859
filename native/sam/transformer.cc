#include "sam/transformer.h"

#include <cmath>

#include "core/precision.h"
#include "sam/attention.h"

namespace seqsam::sam {

AttentionImpl::AttentionImpl(int64_t embeddingDim, int64_t numHeads, int64_t downsampleRate)
    : numHeads_(numHeads), internalDim_(embeddingDim / downsampleRate) {
  TORCH_CHECK(internalDim_ % numHeads == 0, "num_heads must divide the attention width");
  q_proj = register_module("q_proj", torch::nn::Linear(embeddingDim, internalDim_));
  k_proj = register_module("k_proj", torch::nn::Linear(embeddingDim, internalDim_));
  v_proj = register_module("v_proj", torch::nn::Linear(embeddingDim, internalDim_));
  out_proj = register_module("out_proj", torch::nn::Linear(internalDim_, embeddingDim));
}

torch::Tensor AttentionImpl::separateHeads(const torch::Tensor& x) const {
  return x.view({x.size(0), x.size(1), numHeads_, -1}).transpose(1, 2);
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  auto qh = separateHeads(q_proj->forward(q));
  auto kh = separateHeads(k_proj->forward(k));
  auto vh = separateHeads(v_proj->forward(v));
  torch::Tensor out;
  if (useFusedAttention(qh.device())) {
    out = scaledDotProductAttention(qh, kh, vh);  // its scale 1/sqrt(C/heads) is the reference's
  } else {
    // Scores and softmax in float32; under bf16 autocast only q, k and v are bf16, as in the fused kernels.
    NoAutocastScope float32;
    const double scale = std::sqrt(static_cast<double>(qh.size(-1)));
    auto attn = torch::softmax(torch::matmul(qh.to(torch::kFloat), kh.to(torch::kFloat).transpose(-2, -1)) / scale, -1);
    out = torch::matmul(attn, vh.to(torch::kFloat)).to(qh.scalar_type());
  }
  // (B, heads, N, c) -> (B, N, heads*c)
  out = out.transpose(1, 2).reshape({out.size(0), out.size(2), internalDim_});
  return out_proj->forward(out);
}

// ---------------------------------------------------------------------------------------------------------

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(int64_t embeddingDim, int64_t numHeads, int64_t mlpDim,
                                                   int64_t attentionDownsampleRate, bool skipFirstLayerPe)
    : skipFirstLayerPe_(skipFirstLayerPe) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({embeddingDim})); };
  self_attn = register_module("self_attn", Attention(embeddingDim, numHeads));
  norm1 = register_module("norm1", ln());
  cross_attn_token_to_image =
      register_module("cross_attn_token_to_image", Attention(embeddingDim, numHeads, attentionDownsampleRate));
  norm2 = register_module("norm2", ln());
  // The reference's TwoWayTransformer uses ReLU in this MLP (GELU is the ViT's).
  mlp = register_module("mlp", MLPBlock(embeddingDim, mlpDim, Activation::kRelu));
  norm3 = register_module("norm3", ln());
  norm4 = register_module("norm4", ln());
  cross_attn_image_to_token =
      register_module("cross_attn_image_to_token", Attention(embeddingDim, numHeads, attentionDownsampleRate));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayAttentionBlockImpl::forward(const torch::Tensor& queriesIn,
                                                                          const torch::Tensor& keysIn,
                                                                          const torch::Tensor& queryPe,
                                                                          const torch::Tensor& keyPe) {
  torch::Tensor queries = queriesIn, keys = keysIn;
  // The first layer's queries are the prompt embeddings themselves: no PE added, no residual.
  if (skipFirstLayerPe_) {
    queries = self_attn->forward(queries, queries, queries);
  } else {
    auto q = queries + queryPe;
    queries = queries + self_attn->forward(q, q, queries);
  }
  queries = layerNorm(norm1, queries);

  auto q = queries + queryPe;
  auto k = keys + keyPe;
  queries = layerNorm(norm2, queries + cross_attn_token_to_image->forward(q, k, keys));

  queries = layerNorm(norm3, queries + mlp->forward(queries));

  q = queries + queryPe;
  keys = layerNorm(norm4, keys + cross_attn_image_to_token->forward(k, q, queries));
  return {queries, keys};
}

// ---------------------------------------------------------------------------------------------------------

TwoWayTransformerImpl::TwoWayTransformerImpl(int64_t depth, int64_t embeddingDim, int64_t numHeads, int64_t mlpDim,
                                             int64_t attentionDownsampleRate) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    layerList_.emplace_back(embeddingDim, numHeads, mlpDim, attentionDownsampleRate, /*skipFirstLayerPe=*/i == 0);
    layers->push_back(layerList_.back());
  }
  final_attn_token_to_image =
      register_module("final_attn_token_to_image", Attention(embeddingDim, numHeads, attentionDownsampleRate));
  norm_final_attn = register_module("norm_final_attn", torch::nn::LayerNorm(torch::nn::LayerNormOptions({embeddingDim})));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayTransformerImpl::forward(const torch::Tensor& imageEmbedding,
                                                                       const torch::Tensor& imagePe,
                                                                       const torch::Tensor& pointEmbedding) {
  // (B, C, h, w) -> (B, h*w, C)
  auto keys = imageEmbedding.flatten(2).permute({0, 2, 1});
  auto keyPe = imagePe.flatten(2).permute({0, 2, 1});
  auto queries = pointEmbedding;
  for (auto& layer : layerList_) std::tie(queries, keys) = layer->forward(queries, keys, pointEmbedding, keyPe);

  auto q = queries + pointEmbedding;
  auto k = keys + keyPe;
  queries = layerNorm(norm_final_attn, queries + final_attn_token_to_image->forward(q, k, keys));
  return {queries, keys};
}

}  // namespace seqsam::sam
