// SAM's prompt encoder: points/boxes -> sparse tokens, mask -> dense embedding.
#pragma once
#include <torch/torch.h>

#include "sam/common.h"

namespace seqsam::sam {

// Random Fourier features of 2-D coordinates (the Gaussian matrix is a buffer, loaded from checkpoints).
class PositionEmbeddingRandomImpl : public torch::nn::Module {
 public:
  explicit PositionEmbeddingRandomImpl(int64_t numPosFeats, double scale = 1.0);
  // Encoding of the pixel-centre grid of an h x w image: (2*numPosFeats, h, w).
  torch::Tensor forward(int64_t h, int64_t w);
  // Encoding of (..., N, 2) xy pixel coordinates of an imageH x imageW image: (..., N, 2*numPosFeats).
  torch::Tensor forwardWithCoords(const torch::Tensor& coords, int64_t imageH, int64_t imageW);

  torch::Tensor positional_encoding_gaussian_matrix;  // (2, numPosFeats)

 private:
  torch::Tensor encode(const torch::Tensor& unitCoords);
};
TORCH_MODULE(PositionEmbeddingRandom);

struct PromptEmbeddings {
  torch::Tensor sparse;  // (B, n, D): points (+ padding point), then box corners
  torch::Tensor dense;   // (B, D, h, w); an expanded view of no_mask_embed when there is no mask
};

class PromptEncoderImpl : public torch::nn::Module {
 public:
  PromptEncoderImpl(int64_t embedDim, int64_t embeddingH, int64_t embeddingW, int64_t inputImageH,
                    int64_t inputImageW, int64_t maskInChans);

  // Any prompt may be an undefined tensor (absent). points (B, N, 2) xy in input-frame pixels with
  // labels (B, N) (1 foreground, 0 background, -1 ignored); boxes (B, 4) x0 y0 x1 y1; masks (B, 1, 4h, 4w)
  // logits. Without a box the points get a trailing "not a point", exactly as the reference.
  PromptEmbeddings forward(const torch::Tensor& points = {}, const torch::Tensor& labels = {},
                           const torch::Tensor& boxes = {}, const torch::Tensor& masks = {});

  // Positional encoding of the image-embedding grid: (1, D, h, w).
  torch::Tensor getDensePe();

  int64_t embedDim() const { return embedDim_; }

  PositionEmbeddingRandom pe_layer{nullptr};
  torch::nn::ModuleList point_embeddings{nullptr};  // 0 negative, 1 positive, 2 box top-left, 3 box bottom-right
  torch::nn::Embedding not_a_point_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  torch::nn::Embedding no_mask_embed{nullptr};

 private:
  torch::Tensor embedPoints(const torch::Tensor& points, const torch::Tensor& labels, bool pad);
  torch::Tensor embedBoxes(const torch::Tensor& boxes);
  torch::Tensor pointWeight(int64_t i);

  int64_t embedDim_, embeddingH_, embeddingW_, inputH_, inputW_;
};
TORCH_MODULE(PromptEncoder);

}  // namespace seqsam::sam
