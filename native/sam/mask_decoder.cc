#include "sam/mask_decoder.h"

#include "core/errors.h"
#include "core/precision.h"

namespace seqsam::sam {

MaskDecoderImpl::MaskDecoderImpl(int64_t transformerDim, TwoWayTransformer transformerModule,
                                 int64_t numMultimaskOutputs, int64_t iouHeadDepth, int64_t iouHeadHiddenDim)
    : transformerDim_(transformerDim), numMaskTokens_(numMultimaskOutputs + 1) {
  transformer = register_module("transformer", std::move(transformerModule));
  iou_token = register_module("iou_token", torch::nn::Embedding(1, transformerDim));
  mask_tokens = register_module("mask_tokens", torch::nn::Embedding(numMaskTokens_, transformerDim));
  const int64_t d4 = transformerDim / 4, d8 = transformerDim / 8;
  output_upscaling = register_module(
      "output_upscaling",
      torch::nn::Sequential(
          torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(transformerDim, d4, 2).stride(2)),
          LayerNorm2d(d4), torch::nn::GELU(),
          torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(d4, d8, 2).stride(2)), torch::nn::GELU()));
  output_hypernetworks_mlps = register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < numMaskTokens_; ++i) {
    hypernetworks_.emplace_back(transformerDim, transformerDim, d8, 3);
    output_hypernetworks_mlps->push_back(hypernetworks_.back());
  }
  iou_prediction_head = register_module(
      "iou_prediction_head", MLP(transformerDim, iouHeadHiddenDim, numMaskTokens_, iouHeadDepth));
}

MaskDecoderOutput MaskDecoderImpl::forward(const torch::Tensor& imageEmbeddings, const torch::Tensor& imagePe,
                                           const torch::Tensor& sparsePromptEmbeddings,
                                           const torch::Tensor& densePromptEmbeddings, bool multimaskOutput) {
  const int64_t begin = multimaskOutput ? 1 : 0;
  const int64_t end = multimaskOutput ? numMaskTokens_ : 1;
  if (!torch::GradMode::is_enabled()) {
    // Inference: only the chosen masks' hypernetworks and products run.
    auto chosen = predictMasks(imageEmbeddings, imagePe, sparsePromptEmbeddings, densePromptEmbeddings, begin, end);
    return {chosen.lowResMasks, chosen.iouPred.slice(1, begin, end)};
  }
  // Training computes every mask, as the reference does: the unchosen ones' hypernetworks then get zero
  // gradients, on which AdamW still applies its weight decay (a parameter without a gradient would be skipped).
  auto all = predictMasks(imageEmbeddings, imagePe, sparsePromptEmbeddings, densePromptEmbeddings);
  return {all.lowResMasks.slice(1, begin, end), all.iouPred.slice(1, begin, end)};
}

MaskDecoderOutput MaskDecoderImpl::predictMasks(const torch::Tensor& imageEmbeddings, const torch::Tensor& imagePe,
                                                const torch::Tensor& sparse, const torch::Tensor& dense, int64_t firstMask,
                                                int64_t endMask) {
  if (endMask < 0) endMask = numMaskTokens_;
  TORCH_CHECK(0 <= firstMask && firstMask < endMask && endMask <= numMaskTokens_, "predictMasks: masks [", firstMask, ", ",
              endMask, ") of ", numMaskTokens_);
  require(sparse.dim() == 3 && sparse.size(2) == transformerDim_, code::kShape,
          "sparse prompt embeddings must be (B, n, " + std::to_string(transformerDim_) + "), got " +
              c10::str(sparse.sizes()));
  const int64_t b = sparse.size(0);
  require(imageEmbeddings.dim() == 4 && imageEmbeddings.size(1) == transformerDim_, code::kShape,
          "image embeddings must be (B, " + std::to_string(transformerDim_) + ", h, w), got " +
              c10::str(imageEmbeddings.sizes()));
  const int64_t h = imageEmbeddings.size(2), w = imageEmbeddings.size(3);
  auto batchOk = [&](const torch::Tensor& t) {
    return t.dim() == 4 && (t.size(0) == 1 || t.size(0) == b) && t.size(1) == transformerDim_ && t.size(2) == h &&
           t.size(3) == w;
  };
  require(batchOk(imageEmbeddings), code::kShape,
          "image embeddings must have batch 1 (shared) or " + std::to_string(b) + " (one per prompt), got " +
              c10::str(imageEmbeddings.sizes()));
  require(batchOk(dense), code::kShape,
          "dense prompt embeddings must match the image embeddings (batch 1 or " + std::to_string(b) + "), got " +
              c10::str(dense.sizes()));
  require(batchOk(imagePe), code::kShape, "image positional encoding must be (1, C, h, w), got " +
                                              c10::str(imagePe.sizes()));

  // Output tokens (IoU token, then one token per mask) precede the prompt tokens.
  auto outputTokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0).unsqueeze(0).expand({b, -1, -1});
  auto tokens = torch::cat({outputTokens, sparse}, 1);

  // The reference repeats one image per prompt; broadcasting gives the same values without the copies, and
  // also serves one image embedding per prompt.
  auto src = imageEmbeddings + dense;
  if (src.size(0) != b) src = src.expand({b, -1, -1, -1});

  auto [hs, keys] = transformer->forward(src, imagePe, tokens);
  auto iouTokenOut = hs.select(1, 0);
  auto maskTokensOut = hs.slice(1, 1, 1 + numMaskTokens_);

  // The output head (upscaling, hypernetworks, the mask product: a short dot product with much cancellation)
  // runs in float32 even under bf16 autocast: a small share of the work, and most of bf16's error otherwise.
  NoAutocastScope float32;
  auto upscaled = output_upscaling->forward(keys.transpose(1, 2).reshape({b, transformerDim_, h, w}).to(torch::kFloat));
  std::vector<torch::Tensor> hyper;
  hyper.reserve(endMask - firstMask);
  for (int64_t i = firstMask; i < endMask; ++i) hyper.push_back(hypernetworks_[i]->forward(maskTokensOut.select(1, i).to(torch::kFloat)));
  auto hyperIn = torch::stack(hyper, 1);  // (b, M, C/8)
  const int64_t c8 = upscaled.size(1), uh = upscaled.size(2), uw = upscaled.size(3);
  auto masks = torch::matmul(hyperIn, upscaled.reshape({b, c8, uh * uw})).view({b, -1, uh, uw});

  return {masks, iou_prediction_head->forward(iouTokenOut.to(torch::kFloat))};
}

}  // namespace seqsam::sam
