// SAM's mask decoder: two-way transformer over prompt + output tokens, then hypernetwork mask heads.
#pragma once
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "sam/common.h"
#include "sam/transformer.h"

namespace seqsam::sam {

struct MaskDecoderOutput {
  torch::Tensor lowResMasks;  // (B, M, 4h, 4w) logits; M = numMultimaskOutputs or 1
  torch::Tensor iouPred;      // (B, M)
};

class MaskDecoderImpl : public torch::nn::Module {
 public:
  MaskDecoderImpl(int64_t transformerDim, TwoWayTransformer transformer, int64_t numMultimaskOutputs = 3,
                  int64_t iouHeadDepth = 3, int64_t iouHeadHiddenDim = 256);

  // B prompts (sparse (B, n, C), dense (1 or B, C, h, w)) against imageEmbeddings of batch 1 (shared by all
  // prompts) or B (one per prompt); imagePe (1 or B, C, h, w). multimask selects masks 1..M (else mask 0).
  MaskDecoderOutput forward(const torch::Tensor& imageEmbeddings, const torch::Tensor& imagePe,
                            const torch::Tensor& sparsePromptEmbeddings, const torch::Tensor& densePromptEmbeddings,
                            bool multimaskOutput);

  // Masks [firstMask, endMask) of the numMultimaskOutputs + 1 (all by default) and all their IoU predictions.
  // Every mask token takes part in the transformer either way; only the chosen ones' hypernetworks and mask
  // products run (forward's single-mask decode without a gradient skips three of four).
  MaskDecoderOutput predictMasks(const torch::Tensor& imageEmbeddings, const torch::Tensor& imagePe,
                                 const torch::Tensor& sparsePromptEmbeddings,
                                 const torch::Tensor& densePromptEmbeddings, int64_t firstMask = 0,
                                 int64_t endMask = -1);

  int64_t numMaskTokens() const { return numMaskTokens_; }

  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr};
  torch::nn::Embedding mask_tokens{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  MLP iou_prediction_head{nullptr};

 private:
  int64_t transformerDim_;
  int64_t numMaskTokens_;
  std::vector<MLP> hypernetworks_;
};
TORCH_MODULE(MaskDecoder);

}  // namespace seqsam::sam
