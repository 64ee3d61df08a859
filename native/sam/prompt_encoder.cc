#include "sam/prompt_encoder.h"

#include <cmath>

#include "core/errors.h"
#include "core/precision.h"

namespace seqsam::sam {

PositionEmbeddingRandomImpl::PositionEmbeddingRandomImpl(int64_t numPosFeats, double scale) {
  if (scale <= 0.0) scale = 1.0;
  positional_encoding_gaussian_matrix =
      register_buffer("positional_encoding_gaussian_matrix", torch::randn({2, numPosFeats}) * scale);
}

torch::Tensor PositionEmbeddingRandomImpl::encode(const torch::Tensor& unitCoords) {
  // [0,1]^2 -> [-1,1]^2 -> random projection -> sin/cos features. In float32 under bf16 autocast too: the
  // projection is a phase of several turns, which bf16's 8 bits would scramble.
  NoAutocastScope float32;
  auto c = torch::matmul(unitCoords.to(torch::kFloat) * 2 - 1, positional_encoding_gaussian_matrix);
  c = c * (2 * M_PI);
  return torch::cat({torch::sin(c), torch::cos(c)}, -1);
}

torch::Tensor PositionEmbeddingRandomImpl::forward(int64_t h, int64_t w) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(positional_encoding_gaussian_matrix.device());
  // Pixel centres (i + 0.5) / size; the reference's cumsum(ones) - 0.5 yields the same exact values.
  auto y = ((torch::arange(h, opts) + 0.5) / h).view({h, 1}).expand({h, w});
  auto x = ((torch::arange(w, opts) + 0.5) / w).view({1, w}).expand({h, w});
  return encode(torch::stack({x, y}, -1)).permute({2, 0, 1});
}

torch::Tensor PositionEmbeddingRandomImpl::forwardWithCoords(const torch::Tensor& coords, int64_t imageH,
                                                             int64_t imageW) {
  auto c = coords.to(torch::kFloat);
  // Filled on the device: torch::tensor({...}) would copy a host buffer there (and wait) on every prompt.
  auto size = torch::empty({2}, c.options());
  size[0].fill_(static_cast<double>(imageW));
  size[1].fill_(static_cast<double>(imageH));
  return encode(c / size);
}

// ---------------------------------------------------------------------------------------------------------

PromptEncoderImpl::PromptEncoderImpl(int64_t embedDim, int64_t embeddingH, int64_t embeddingW, int64_t inputImageH,
                                     int64_t inputImageW, int64_t maskInChans)
    : embedDim_(embedDim), embeddingH_(embeddingH), embeddingW_(embeddingW), inputH_(inputImageH),
      inputW_(inputImageW) {
  pe_layer = register_module("pe_layer", PositionEmbeddingRandom(embedDim / 2));
  point_embeddings = register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i) point_embeddings->push_back(torch::nn::Embedding(1, embedDim));
  not_a_point_embed = register_module("not_a_point_embed", torch::nn::Embedding(1, embedDim));
  const int64_t quarter = maskInChans / 4;
  mask_downscaling = register_module(
      "mask_downscaling",
      torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, quarter, 2).stride(2)),
                            LayerNorm2d(quarter), torch::nn::GELU(),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(quarter, maskInChans, 2).stride(2)),
                            LayerNorm2d(maskInChans), torch::nn::GELU(),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(maskInChans, embedDim, 1))));
  no_mask_embed = register_module("no_mask_embed", torch::nn::Embedding(1, embedDim));
}

torch::Tensor PromptEncoderImpl::pointWeight(int64_t i) {
  return point_embeddings->ptr<torch::nn::EmbeddingImpl>(i)->weight;
}

torch::Tensor PromptEncoderImpl::getDensePe() {
  return pe_layer->forward(embeddingH_, embeddingW_).unsqueeze(0).contiguous();
}

torch::Tensor PromptEncoderImpl::embedPoints(const torch::Tensor& points, const torch::Tensor& labels, bool pad) {
  auto pts = points.to(torch::kFloat) + 0.5;  // pixel centres
  auto lab = labels;
  if (pad) {
    pts = torch::cat({pts, torch::zeros({pts.size(0), 1, 2}, pts.options())}, 1);
    lab = torch::cat({lab, -torch::ones({lab.size(0), 1}, lab.options())}, 1);
  }
  auto emb = pe_layer->forwardWithCoords(pts, inputH_, inputW_);
  // Masked sums instead of the reference's in-place indexing: same values, and autograd-friendly.
  auto ignored = (lab == -1).unsqueeze(-1);
  emb = emb.masked_fill(ignored, 0.0);
  emb = emb + ignored.to(emb.scalar_type()) * not_a_point_embed->weight;
  emb = emb + (lab == 0).unsqueeze(-1).to(emb.scalar_type()) * pointWeight(0);
  emb = emb + (lab == 1).unsqueeze(-1).to(emb.scalar_type()) * pointWeight(1);
  return emb;
}

torch::Tensor PromptEncoderImpl::embedBoxes(const torch::Tensor& boxes) {
  auto corners = (boxes.to(torch::kFloat) + 0.5).reshape({-1, 2, 2});
  auto emb = pe_layer->forwardWithCoords(corners, inputH_, inputW_);
  return emb + torch::cat({pointWeight(2), pointWeight(3)}, 0).unsqueeze(0);
}

PromptEmbeddings PromptEncoderImpl::forward(const torch::Tensor& points, const torch::Tensor& labels,
                                            const torch::Tensor& boxes, const torch::Tensor& masks) {
  require(points.defined() == labels.defined(), code::kArgument, "point prompts need both coordinates and labels");
  int64_t bs = 1;
  if (points.defined()) {
    require(points.dim() == 3 && points.size(2) == 2, code::kShape,
            "point coordinates must be (B, N, 2), got " + c10::str(points.sizes()));
    require(labels.dim() == 2 && labels.size(0) == points.size(0) && labels.size(1) == points.size(1),
            code::kShape, "point labels must be (B, N) matching the coordinates, got " + c10::str(labels.sizes()));
    bs = points.size(0);
  }
  if (boxes.defined()) {
    require(boxes.dim() >= 1 && boxes.size(-1) == 4 && boxes.numel() > 0, code::kShape,
            "boxes must be (B, 4), got " + c10::str(boxes.sizes()));
    const int64_t nb = boxes.numel() / 4;
    require(!points.defined() || nb == bs, code::kShape, "boxes and points must have the same batch size");
    if (!points.defined()) bs = nb;
  }
  if (masks.defined()) {
    require(masks.dim() == 4 && masks.size(1) == 1 && masks.size(2) == 4 * embeddingH_ &&
                masks.size(3) == 4 * embeddingW_,
            code::kShape,
            "mask prompts must be (B, 1, " + std::to_string(4 * embeddingH_) + ", " +
                std::to_string(4 * embeddingW_) + "), got " + c10::str(masks.sizes()));
    require(!points.defined() && !boxes.defined() ? true : masks.size(0) == bs, code::kShape,
            "mask prompts must have the batch size of the point/box prompts");
    if (!points.defined() && !boxes.defined()) bs = masks.size(0);
  }

  const auto& weight = no_mask_embed->weight;
  std::vector<torch::Tensor> sparse;
  if (points.defined()) sparse.push_back(embedPoints(points, labels, /*pad=*/!boxes.defined()));
  if (boxes.defined()) sparse.push_back(embedBoxes(boxes));
  PromptEmbeddings out;
  if (sparse.empty()) {
    out.sparse = torch::empty({bs, 0, embedDim_}, weight.options());
  } else {
    out.sparse = sparse.size() == 1 ? sparse[0] : torch::cat(sparse, 1);
  }
  if (masks.defined()) {
    CpuConvolutionScope conv(masks.to(weight.scalar_type()));
    out.dense = mask_downscaling->forward(conv.input());
  } else {
    out.dense = weight.reshape({1, -1, 1, 1}).expand({bs, -1, embeddingH_, embeddingW_});
  }
  return out;
}

}  // namespace seqsam::sam
