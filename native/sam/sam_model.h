// The whole SAM: image encoder, prompt encoder, mask decoder under the official state-dict names.
#pragma once
#include <torch/torch.h>

#include <array>
#include <memory>

#include "core/precision.h"
#include "sam/config.h"
#include "sam/held_bf16_encoder.h"
#include "sam/image_encoder.h"
#include "sam/mask_decoder.h"
#include "sam/prompt_encoder.h"

namespace seqsam::sam {

class SamModelImpl : public torch::nn::Module {
 public:
  // Parameters are drawn from torch's global generator (seed it first); checkpoints overwrite them.
  explicit SamModelImpl(const SamConfig& config);

  const SamConfig& config() const { return config_; }

  // fp32, or bf16 in encodeImage and predict (their outputs come back as float32): autocast, except for an
  // encoder pass that needs no gradient, which runs on the encoder's weights held in bf16.
  Precision precision() const { return precision_; }
  void setPrecision(Precision precision);

  // (B, 3, H, W) RGB, uint8 or float on the 0..255 scale, already resized so that max(H, W) <= imageSize:
  // normalised with pixelMean/pixelStd and zero-padded right/bottom to (B, 3, imageSize, imageSize), float32.
  torch::Tensor preprocess(const torch::Tensor& image) const;

  // Preprocessed images -> (B, promptEmbedDim, imageSize/16, imageSize/16).
  torch::Tensor encodeImage(const torch::Tensor& preprocessed);

  // Prompt encoding + mask decoding against image embeddings of batch 1 (shared) or B (one per prompt).
  // Prompt tensors as in PromptEncoderImpl::forward (undefined = absent); coordinates in the input frame.
  MaskDecoderOutput predict(const torch::Tensor& imageEmbeddings, const torch::Tensor& points,
                            const torch::Tensor& labels, const torch::Tensor& boxes, const torch::Tensor& masks,
                            bool multimaskOutput);

  // Low-res logits (B, C, h, w) -> (B, C, originalH, originalW): bilinear to imageSize, crop to the
  // resized input inputSize (h, w), bilinear to originalSize (h, w); align_corners false throughout.
  torch::Tensor postprocess(const torch::Tensor& lowResMasks, std::array<int64_t, 2> inputSize,
                            std::array<int64_t, 2> originalSize) const;

  ImageEncoderViT image_encoder{nullptr};
  PromptEncoder prompt_encoder{nullptr};
  MaskDecoder mask_decoder{nullptr};

 private:
  // Whether this encoder pass builds a graph: grad mode on, and the input or an encoder weight requires grad.
  bool encoderPassNeedsGrad(const torch::Tensor& input) const;

  SamConfig config_;
  Precision precision_ = Precision::Fp32;
  // Not a submodule: the held copy is no part of the state dict, parameters() or the optimizer.
  std::shared_ptr<HeldBf16Encoder> heldEncoder_ = std::make_shared<HeldBf16Encoder>();
};
TORCH_MODULE(SamModel);

// ResizeLongestSide: the (h, w) an (oldH, oldW) image is resized to so that its long side is longSide
// (each side int(side * scale + 0.5), as the reference).
std::array<int64_t, 2> resizeLongestSide(int64_t oldH, int64_t oldW, int64_t longSide);
// xy coordinates (..., 2) of an originalSize (h, w) image into the resized frame; float32 result.
torch::Tensor applyCoords(const torch::Tensor& coords, std::array<int64_t, 2> originalSize, int64_t longSide);
// Boxes (..., 4) x0 y0 x1 y1 into the resized frame; returns (N, 4).
torch::Tensor applyBoxes(const torch::Tensor& boxes, std::array<int64_t, 2> originalSize, int64_t longSide);

}  // namespace seqsam::sam
