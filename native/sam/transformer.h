// SAM's two-way transformer: prompt tokens and image tokens attend to each other.
#pragma once
#include <torch/torch.h>

#include <utility>

#include "sam/common.h"

namespace seqsam::sam {

// Multi-head attention whose q/k/v projections may shrink the width by downsampleRate.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t embeddingDim, int64_t numHeads, int64_t downsampleRate = 1);
  // q (B, Nq, D), k and v (B, Nk, D) -> (B, Nq, D). Batch 1 on either side broadcasts.
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

  torch::nn::Linear q_proj{nullptr};
  torch::nn::Linear k_proj{nullptr};
  torch::nn::Linear v_proj{nullptr};
  torch::nn::Linear out_proj{nullptr};

 private:
  torch::Tensor separateHeads(const torch::Tensor& x) const;  // (B, N, C) -> (B, heads, N, C/heads)
  int64_t numHeads_;
  int64_t internalDim_;
};
TORCH_MODULE(Attention);

// Token self-attention, token->image cross-attention, token MLP, image->token cross-attention.
class TwoWayAttentionBlockImpl : public torch::nn::Module {
 public:
  TwoWayAttentionBlockImpl(int64_t embeddingDim, int64_t numHeads, int64_t mlpDim, int64_t attentionDownsampleRate,
                           bool skipFirstLayerPe);
  // Returns the updated (queries, keys).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                                  const torch::Tensor& queryPe, const torch::Tensor& keyPe);

  Attention self_attn{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
  Attention cross_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  MLPBlock mlp{nullptr};
  torch::nn::LayerNorm norm3{nullptr};
  torch::nn::LayerNorm norm4{nullptr};
  Attention cross_attn_image_to_token{nullptr};

 private:
  bool skipFirstLayerPe_;
};
TORCH_MODULE(TwoWayAttentionBlock);

class TwoWayTransformerImpl : public torch::nn::Module {
 public:
  TwoWayTransformerImpl(int64_t depth, int64_t embeddingDim, int64_t numHeads, int64_t mlpDim,
                        int64_t attentionDownsampleRate = 2);
  // imageEmbedding (B, C, h, w), imagePe (1 or B, C, h, w), pointEmbedding (B, N, C)
  // -> (queries (B, N, C), keys (B, h*w, C)).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& imageEmbedding, const torch::Tensor& imagePe,
                                                  const torch::Tensor& pointEmbedding);

  torch::nn::ModuleList layers{nullptr};
  Attention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};

 private:
  std::vector<TwoWayAttentionBlock> layerList_;
};
TORCH_MODULE(TwoWayTransformer);

}  // namespace seqsam::sam
