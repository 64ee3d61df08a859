#include "sam/sam_model.h"

#include <algorithm>

#include "core/errors.h"

namespace seqsam::sam {

namespace F = torch::nn::functional;

namespace {

ImageEncoderOptions encoderOptions(const SamConfig& c) {
  ImageEncoderOptions o;
  o.imageSize = c.imageSize;
  o.patchSize = c.patchSize;
  o.embedDim = c.encoderEmbedDim;
  o.depth = c.encoderDepth;
  o.numHeads = c.encoderHeads;
  o.mlpRatio = c.mlpRatio;
  o.outChans = c.outChans();
  o.qkvBias = c.qkvBias;
  o.useRelPos = c.useRelPos;
  o.lnEps = c.encoderLnEps;
  o.windowSize = c.windowSize;
  o.globalAttnIndexes = c.globalAttnIndexes;
  return o;
}

}  // namespace

SamModelImpl::SamModelImpl(const SamConfig& config) : config_(config) {
  validateConfig(config_);
  const int64_t grid = config_.embeddingSize();
  image_encoder = register_module("image_encoder", ImageEncoderViT(encoderOptions(config_)));
  prompt_encoder = register_module("prompt_encoder",
                                   PromptEncoder(config_.promptEmbedDim, grid, grid, config_.imageSize,
                                                 config_.imageSize, config_.maskInChans));
  mask_decoder = register_module(
      "mask_decoder",
      MaskDecoder(config_.promptEmbedDim,
                  TwoWayTransformer(config_.decoderDepth, config_.promptEmbedDim, config_.decoderHeads,
                                    config_.decoderMlpDim, config_.attentionDownsampleRate),
                  config_.numMultimaskOutputs, config_.iouHeadDepth, config_.iouHeadHiddenDim));
}

torch::Tensor SamModelImpl::preprocess(const torch::Tensor& image) const {
  require(image.dim() == 4 && image.size(1) == 3, code::kShape,
          "image must be (B, 3, H, W), got " + c10::str(image.sizes()));
  const int64_t h = image.size(2), w = image.size(3), s = config_.imageSize;
  require(h <= s && w <= s, code::kShape,
          "image is " + std::to_string(h) + "x" + std::to_string(w) + ", larger than the encoder's " +
              std::to_string(s) + ": resize its longest side first");
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(image.device());
  // float32 statistics, as the reference's buffers.
  auto mean = torch::tensor({static_cast<float>(config_.pixelMean[0]), static_cast<float>(config_.pixelMean[1]),
                             static_cast<float>(config_.pixelMean[2])},
                            opts)
                  .view({1, 3, 1, 1});
  auto stdev = torch::tensor({static_cast<float>(config_.pixelStd[0]), static_cast<float>(config_.pixelStd[1]),
                              static_cast<float>(config_.pixelStd[2])},
                             opts)
                   .view({1, 3, 1, 1});
  auto x = (image.to(torch::kFloat) - mean) / stdev;
  if (h == s && w == s) return x;
  return torch::constant_pad_nd(x, {0, s - w, 0, s - h}, 0);
}

void SamModelImpl::setPrecision(Precision precision) {
  precision_ = precision;
  if (precision_ != Precision::Bf16) heldEncoder_->release();
}

bool SamModelImpl::encoderPassNeedsGrad(const torch::Tensor& input) const {
  if (!torch::GradMode::is_enabled()) return false;
  if (input.requires_grad()) return true;
  for (const auto& p : image_encoder->parameters()) {
    if (p.requires_grad()) return true;
  }
  return false;
}

torch::Tensor SamModelImpl::encodeImage(const torch::Tensor& preprocessed) {
  if (precision_ == Precision::Bf16 && holdBf16Weights() && !encoderPassNeedsGrad(preprocessed)) {
    // The frozen encoder on its weights held in bf16 (refreshed there if they changed since the last call).
    ImageEncoderViT held = heldEncoder_->get(image_encoder);
    torch::NoGradGuard noGrad;
    return held->forward(preprocessed).to(torch::kFloat);
  }
  torch::Tensor out;
  {
    AutocastScope autocast(preprocessed.device(), precision_);
    out = image_encoder->forward(preprocessed);
  }
  return out.to(torch::kFloat);
}

MaskDecoderOutput SamModelImpl::predict(const torch::Tensor& imageEmbeddings, const torch::Tensor& points,
                                        const torch::Tensor& labels, const torch::Tensor& boxes,
                                        const torch::Tensor& masks, bool multimaskOutput) {
  MaskDecoderOutput out;
  {
    AutocastScope autocast(imageEmbeddings.device(), precision_);
    auto prompts = prompt_encoder->forward(points, labels, boxes, masks);
    out = mask_decoder->forward(imageEmbeddings, prompt_encoder->getDensePe(), prompts.sparse, prompts.dense,
                                multimaskOutput);
  }
  return {out.lowResMasks.to(torch::kFloat), out.iouPred.to(torch::kFloat)};
}

torch::Tensor SamModelImpl::postprocess(const torch::Tensor& lowResMasks, std::array<int64_t, 2> inputSize,
                                        std::array<int64_t, 2> originalSize) const {
  require(lowResMasks.dim() == 4, code::kShape, "masks must be (B, C, h, w), got " + c10::str(lowResMasks.sizes()));
  const int64_t s = config_.imageSize;
  require(inputSize[0] > 0 && inputSize[1] > 0 && inputSize[0] <= s && inputSize[1] <= s, code::kArgument,
          "input size must lie within the encoder's " + std::to_string(s) + "x" + std::to_string(s));
  require(originalSize[0] > 0 && originalSize[1] > 0, code::kArgument, "original size must be positive");
  auto bilinear = [](std::vector<int64_t> size) {
    return F::InterpolateFuncOptions().size(size).mode(torch::kBilinear).align_corners(false);
  };
  auto x = F::interpolate(lowResMasks, bilinear({s, s}));
  x = x.slice(2, 0, inputSize[0]).slice(3, 0, inputSize[1]);
  return F::interpolate(x, bilinear({originalSize[0], originalSize[1]}));
}

std::array<int64_t, 2> resizeLongestSide(int64_t oldH, int64_t oldW, int64_t longSide) {
  require(oldH > 0 && oldW > 0 && longSide > 0, code::kArgument, "sizes must be positive");
  const double scale = longSide * 1.0 / static_cast<double>(std::max(oldH, oldW));
  // At least one pixel per side: a 100000x1 image scales its short side to 0.0026, which would round to an
  // empty image (and a raw torch error) rather than a one-pixel-wide strip.
  auto scaled = [scale](int64_t side) { return std::max<int64_t>(1, static_cast<int64_t>(side * scale + 0.5)); };
  return {scaled(oldH), scaled(oldW)};
}

torch::Tensor applyCoords(const torch::Tensor& coords, std::array<int64_t, 2> originalSize, int64_t longSide) {
  require(coords.dim() >= 1 && coords.size(-1) == 2, code::kShape,
          "coordinates must be (..., 2), got " + c10::str(coords.sizes()));
  const auto [newH, newW] = resizeLongestSide(originalSize[0], originalSize[1], longSide);
  auto c = coords.to(torch::kFloat);
  // Per-axis scale factors computed in double and applied in float32, as the reference's tensor path.
  auto x = c.select(-1, 0) * (static_cast<double>(newW) / originalSize[1]);
  auto y = c.select(-1, 1) * (static_cast<double>(newH) / originalSize[0]);
  return torch::stack({x, y}, -1);
}

torch::Tensor applyBoxes(const torch::Tensor& boxes, std::array<int64_t, 2> originalSize, int64_t longSide) {
  require(boxes.dim() >= 1 && boxes.size(-1) == 4, code::kShape,
          "boxes must be (..., 4), got " + c10::str(boxes.sizes()));
  return applyCoords(boxes.reshape({-1, 2, 2}), originalSize, longSide).reshape({-1, 4});
}

}  // namespace seqsam::sam
