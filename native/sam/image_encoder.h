// SAM's ViT image encoder (ViTDet backbone: windowed + global attention with decomposed relative positions).
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "sam/common.h"

namespace seqsam::sam {

// Multi-head self-attention over a (B, H, W, C) token grid, with optional decomposed rel-pos bias.
class ViTAttentionImpl : public torch::nn::Module {
 public:
  // inputH/inputW: the grid the rel-pos tables are sized for (window side, or the full grid if global).
  ViTAttentionImpl(int64_t dim, int64_t numHeads, bool qkvBias, bool useRelPos, int64_t inputH, int64_t inputW);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};
  torch::Tensor rel_pos_h;  // (2*inputH-1, headDim), undefined without rel-pos
  torch::Tensor rel_pos_w;

 private:
  // q, k, v: (B, heads, h·w, headDim), any strides with a contiguous head dim; returns the same shape.
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t h,
                       int64_t w);
  int64_t numHeads_;
  int64_t headDim_;
  double scale_;
  bool useRelPos_;
};
TORCH_MODULE(ViTAttention);

// Pre-norm transformer block; windowSize 0 means global attention.
class ViTBlockImpl : public torch::nn::Module {
 public:
  ViTBlockImpl(int64_t dim, int64_t numHeads, double mlpRatio, bool qkvBias, bool useRelPos, double lnEps,
               int64_t windowSize, int64_t gridH, int64_t gridW);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm norm1{nullptr};
  ViTAttention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  MLPBlock mlp{nullptr};

 private:
  int64_t windowSize_;
};
TORCH_MODULE(ViTBlock);

class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t patchSize, int64_t inChans, int64_t embedDim);
  // (B, 3, H, W) -> (B, H/p, W/p, C), contiguous.
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct ImageEncoderOptions {
  int64_t imageSize = 1024;
  int64_t patchSize = 16;
  int64_t inChans = 3;
  int64_t embedDim = 768;
  int64_t depth = 12;
  int64_t numHeads = 12;
  double mlpRatio = 4.0;
  int64_t outChans = 256;
  bool qkvBias = true;
  bool useRelPos = true;
  double lnEps = 1e-6;
  int64_t windowSize = 14;
  std::vector<int64_t> globalAttnIndexes{2, 5, 8, 11};
};

class ImageEncoderViTImpl : public torch::nn::Module {
 public:
  explicit ImageEncoderViTImpl(const ImageEncoderOptions& options);
  // (B, 3, S, S) normalised and padded image -> (B, outChans, S/p, S/p) contiguous embeddings. Runs in
  // its weights' type: float32 (also under autocast), or bf16 for a copy held in bf16 (then the tokens
  // stay bf16 throughout and the embeddings come back bf16).
  torch::Tensor forward(const torch::Tensor& x);

  int64_t imageSize() const { return options_.imageSize; }
  const ImageEncoderOptions& options() const { return options_; }

  PatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;  // (1, S/p, S/p, C)
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Sequential neck{nullptr};

 private:
  ImageEncoderOptions options_;
  std::vector<ViTBlock> blockList_;
};
TORCH_MODULE(ImageEncoderViT);

// Window helpers, exposed for tests. windowPartition pads the grid with zeros to a multiple of the window.
std::pair<torch::Tensor, std::pair<int64_t, int64_t>> windowPartition(const torch::Tensor& x, int64_t windowSize);
torch::Tensor windowUnpartition(const torch::Tensor& windows, int64_t windowSize, std::pair<int64_t, int64_t> paddedHw,
                                std::pair<int64_t, int64_t> hw);
// Rel-pos rows for every (query, key) pair along one axis: (qSize, kSize, headDim).
torch::Tensor relativePositions(int64_t qSize, int64_t kSize, const torch::Tensor& relPos);

}  // namespace seqsam::sam
