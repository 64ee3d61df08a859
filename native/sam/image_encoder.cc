#include "sam/image_encoder.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/precision.h"
#include "sam/attention.h"

namespace seqsam::sam {

namespace F = torch::nn::functional;

namespace {

// Largest attention-score block materialised at once. Keeping it small (the 64x64 global grid would be
// 64 MiB per head) means the scores stay cache-friendly, and the allocator recycles the block between
// chunks instead of mapping fresh pages each time.
constexpr int64_t kScoreChunkBytes = 8 << 20;

}  // namespace

std::pair<torch::Tensor, std::pair<int64_t, int64_t>> windowPartition(const torch::Tensor& x, int64_t windowSize) {
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const int64_t padH = (windowSize - h % windowSize) % windowSize;
  const int64_t padW = (windowSize - w % windowSize) % windowSize;
  torch::Tensor padded = x;
  if (padH > 0 || padW > 0) padded = torch::constant_pad_nd(x, {0, 0, 0, padW, 0, padH}, 0);
  const int64_t hp = h + padH, wp = w + padW;
  auto windows = padded.view({b, hp / windowSize, windowSize, wp / windowSize, windowSize, c})
                     .permute({0, 1, 3, 2, 4, 5})
                     .reshape({-1, windowSize, windowSize, c});
  return {windows, {hp, wp}};
}

torch::Tensor windowUnpartition(const torch::Tensor& windows, int64_t windowSize, std::pair<int64_t, int64_t> paddedHw,
                                std::pair<int64_t, int64_t> hw) {
  const auto [hp, wp] = paddedHw;
  const auto [h, w] = hw;
  const int64_t b = windows.size(0) / ((hp / windowSize) * (wp / windowSize));
  auto x = windows.view({b, hp / windowSize, wp / windowSize, windowSize, windowSize, -1})
               .permute({0, 1, 3, 2, 4, 5})
               .reshape({b, hp, wp, -1});
  // The crop stays a strided view: the residual add that follows reads it directly.
  if (hp > h || wp > w) x = x.slice(1, 0, h).slice(2, 0, w);
  return x;
}

torch::Tensor relativePositions(int64_t qSize, int64_t kSize, const torch::Tensor& relPos) {
  const int64_t maxDist = 2 * std::max(qSize, kSize) - 1;
  torch::Tensor table = relPos;
  if (relPos.size(0) != maxDist) {
    // Checkpoint trained at another grid size: stretch the table linearly, as the reference does.
    // (In float32: a table held in bf16 is stretched as the float32 one, then stored back.)
    table = F::interpolate(relPos.to(torch::kFloat).reshape({1, relPos.size(0), -1}).permute({0, 2, 1}),
                           F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{maxDist})
                               .mode(torch::kLinear)
                               .align_corners(false))
                .reshape({-1, maxDist})
                .permute({1, 0})
                .to(relPos.scalar_type());
  }
  // Offsets in float32 like the reference, so unequal q/k sizes round to the same rows.
  const double qScale = std::max(static_cast<double>(kSize) / qSize, 1.0);
  const double kScale = std::max(static_cast<double>(qSize) / kSize, 1.0);
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(relPos.device());
  auto qCoords = torch::arange(qSize, opts).unsqueeze(1) * qScale;
  auto kCoords = torch::arange(kSize, opts).unsqueeze(0) * kScale;
  auto index = ((qCoords - kCoords) + (kSize - 1) * kScale).to(torch::kLong);
  return table.index({index});
}

// ---------------------------------------------------------------------------------------------------------

ViTAttentionImpl::ViTAttentionImpl(int64_t dim, int64_t numHeads, bool qkvBias, bool useRelPos, int64_t inputH,
                                   int64_t inputW)
    : numHeads_(numHeads), headDim_(dim / numHeads), useRelPos_(useRelPos) {
  scale_ = 1.0 / std::sqrt(static_cast<double>(headDim_));
  // Own parameters first, then submodules: the same key order as the reference state dict.
  if (useRelPos_) {
    rel_pos_h = register_parameter("rel_pos_h", torch::zeros({2 * inputH - 1, headDim_}));
    rel_pos_w = register_parameter("rel_pos_w", torch::zeros({2 * inputW - 1, headDim_}));
  }
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, dim * 3).bias(qkvBias)));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor ViTAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), n = h * w, dim = numHeads_ * headDim_;
  torch::Tensor q, k, v;  // each (B, heads, N, headDim)
  if (x.device().is_cpu() && !useFusedAttention(x.device())) {
    // Project q, k and v separately through row slices of the fused weight: the same arithmetic, but
    // three temporaries a third the size, which the CPU allocator can recycle instead of mapping (and
    // page-faulting) ~40 MB afresh in every block. Contiguous, for the explicit formulas' batched GEMMs.
    const auto& weight = qkv->weight;
    const auto& bias = qkv->bias;
    auto project = [&](int64_t i) {
      auto y = torch::linear(x, weight.slice(0, i * dim, (i + 1) * dim),
                             bias.defined() ? bias.slice(0, i * dim, (i + 1) * dim) : torch::Tensor());
      return y.view({b, n, numHeads_, headDim_}).permute({0, 2, 1, 3}).contiguous();
    };
    q = project(0);
    k = project(1);
    v = project(2);
  } else {
    // Strided views into the one projection: the fused kernels read them as they are (the head dim is
    // contiguous), and the fold builds new q and k anyway, so copying them out first would be a pass wasted.
    auto qkvOut = qkv->forward(x).view({b, n, 3, numHeads_, headDim_}).permute({2, 0, 3, 1, 4});
    q = qkvOut[0];
    k = qkvOut[1];
    v = qkvOut[2];
  }
  // Back to (B, H, W, dim) in one copy, or none where the kernel already wrote (B, N, heads, headDim).
  auto out = attend(q, k, v, h, w).reshape({b, numHeads_, h, w, headDim_}).permute({0, 2, 3, 1, 4}).reshape({b, h, w, dim});
  return proj->forward(out);
}

torch::Tensor ViTAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       int64_t h, int64_t w) {
  const int64_t b = q.size(0), bh = b * numHeads_, n = h * w;
  if (q.scalar_type() != torch::kFloat && !useFusedAttention(q.device())) {
    // bf16 autocast: as in the fused kernels, q, k and v are bf16 but scores and softmax stay float32.
    NoAutocastScope float32;
    return attend(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat), h, w).to(q.scalar_type());
  }
  torch::Tensor relH, relW;  // (h, h, headDim), (w, w, headDim), in q's type
  if (useRelPos_) {
    // Held bf16 tables meet the float32 scores of the explicit path: they take q's type.
    relH = relativePositions(h, h, rel_pos_h).to(q.scalar_type());
    relW = relativePositions(w, w, rel_pos_w).to(q.scalar_type());
  }

  if (useFusedAttention(q.device())) {
    // The fused kernels (memory-efficient attention takes an additive bias) take (B, heads, N, c); the
    // decomposed rel-pos bias goes in folded into q and k, or as the attention mask in q's type (bf16
    // under autocast).
    if (useRelPos_ && foldRelPos(q.device())) return relPosFoldedAttention(q, k, v, relH, relW, h, w, scale_);
    torch::Tensor bias;
    if (useRelPos_) {
      auto rq = q.reshape({bh, h, w, headDim_});
      auto rh = torch::einsum("bhwc,hkc->bhwk", {rq, relH.to(q.scalar_type())});
      auto rw = torch::einsum("bhwc,wkc->bhwk", {rq, relW.to(q.scalar_type())});
      bias = (rh.unsqueeze(-1) + rw.unsqueeze(-2)).reshape({b, numHeads_, n, n}).to(q.scalar_type());
    }
    return scaledDotProductAttention(q, k, v, bias);
  }

  // The explicit formulas run batched GEMMs over (B·heads) items of contiguous rows (a view on the CPU,
  // where q, k and v come contiguous). Chunk over items, and over query rows of the grid when one item
  // alone is too large.
  const auto qItems = q.reshape({bh, n, headDim_}), kItems = k.reshape({bh, n, headDim_}), vItems = v.reshape({bh, n, headDim_});
  const int64_t itemBytes = n * n * static_cast<int64_t>(sizeof(float));
  int64_t itemsPerChunk = std::max<int64_t>(1, kScoreChunkBytes / itemBytes);
  int64_t rowsPerChunk = h;
  if (itemBytes > kScoreChunkBytes) {
    itemsPerChunk = 1;
    rowsPerChunk = std::clamp<int64_t>(kScoreChunkBytes / (w * n * static_cast<int64_t>(sizeof(float))), 1, h);
  }
  const bool inplace = !torch::GradMode::is_enabled() && q.device().is_cpu();

  std::vector<torch::Tensor> items;
  for (int64_t b0 = 0; b0 < bh; b0 += itemsPerChunk) {
    const int64_t b1 = std::min(bh, b0 + itemsPerChunk), cb = b1 - b0;
    auto kc = kItems.slice(0, b0, b1), vc = vItems.slice(0, b0, b1);
    auto kT = kc.transpose(1, 2);
    std::vector<torch::Tensor> rows;
    for (int64_t y0 = 0; y0 < h; y0 += rowsPerChunk) {
      const int64_t y1 = std::min(h, y0 + rowsPerChunk), ry = y1 - y0, nq = ry * w;
      auto qc = qItems.slice(0, b0, b1).slice(1, y0 * w, y1 * w);  // (cb, nq, headDim)
      torch::Tensor scores;
      if (useRelPos_) {
        // Decomposed rel-pos: bias[b, (y,x), (ky,kx)] = q[b,y,x]·Rh[y,ky] + q[b,y,x]·Rw[x,kx]. Each axis is
        // one batched GEMM over that axis (rows y, resp. columns x), instead of many tiny per-window ones.
        auto rq = qc.reshape({cb, ry, w, headDim_});
        auto rh = torch::bmm(rq.permute({1, 0, 2, 3}).reshape({ry, cb * w, headDim_}),
                             relH.slice(0, y0, y1).transpose(1, 2));  // (ry, cb*w, h)
        auto rw = torch::bmm(rq.permute({2, 0, 1, 3}).reshape({w, cb * ry, headDim_}),
                             relW.transpose(1, 2));  // (w, cb*ry, w)
        rh = rh.view({ry, cb, w, h}).permute({1, 0, 2, 3}).contiguous();
        rw = rw.view({w, cb, ry, w}).permute({1, 2, 0, 3}).contiguous();
        // Materialise the bias once, then accumulate scale * q k^T into it (beta = 1): one pass less than
        // computing the scores and adding the two broadcast terms afterwards.
        scores = (rh.unsqueeze(-1) + rw.unsqueeze(-2)).view({cb, nq, n});
        scores.baddbmm_(qc, kT, /*beta=*/1.0, /*alpha=*/scale_);
      } else {
        scores = torch::bmm(qc * scale_, kT);
      }
      if (inplace) {
        at::_softmax_out(scores, scores, -1, false);
      } else {
        scores = torch::softmax(scores, -1);
      }
      rows.push_back(torch::bmm(scores, vc));
    }
    items.push_back(rows.size() == 1 ? rows[0] : torch::cat(rows, 1));
  }
  return items.size() == 1 ? items[0] : torch::cat(items, 0);
}

// ---------------------------------------------------------------------------------------------------------

ViTBlockImpl::ViTBlockImpl(int64_t dim, int64_t numHeads, double mlpRatio, bool qkvBias, bool useRelPos,
                           double lnEps, int64_t windowSize, int64_t gridH, int64_t gridW)
    : windowSize_(windowSize) {
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(lnEps)));
  const int64_t sizeH = windowSize > 0 ? windowSize : gridH;
  const int64_t sizeW = windowSize > 0 ? windowSize : gridW;
  attn = register_module("attn", ViTAttention(dim, numHeads, qkvBias, useRelPos, sizeH, sizeW));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(lnEps)));
  mlp = register_module("mlp", MLPBlock(dim, static_cast<int64_t>(dim * mlpRatio), Activation::kGelu));
}

torch::Tensor ViTBlockImpl::forward(const torch::Tensor& x) {
  auto y = layerNorm(norm1, x);
  if (windowSize_ > 0) {
    // Pad after the norm (padded tokens are zeros, as in the reference) and attend within windows.
    const std::pair<int64_t, int64_t> hw{x.size(1), x.size(2)};
    auto [windows, paddedHw] = windowPartition(y, windowSize_);
    y = windowUnpartition(attn->forward(windows), windowSize_, paddedHw, hw);
  } else {
    y = attn->forward(y);
  }
  auto out = x + y;
  return out + mlp->forward(layerNorm(norm2, out));
}

// ---------------------------------------------------------------------------------------------------------

PatchEmbedImpl::PatchEmbedImpl(int64_t patchSize, int64_t inChans, int64_t embedDim) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(inChans, embedDim, patchSize)
                                                       .stride(patchSize)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) {
  // Channels-last tokens, made contiguous once so every later op runs on dense (B, H, W, C) memory. The
  // image takes the weights' type (bf16 for held bf16 weights off the CPU; float32 otherwise).
  CpuConvolutionScope conv(x.to(proj->weight.scalar_type()));
  return proj->forward(conv.input()).permute({0, 2, 3, 1}).contiguous();
}

// ---------------------------------------------------------------------------------------------------------

ImageEncoderViTImpl::ImageEncoderViTImpl(const ImageEncoderOptions& options) : options_(options) {
  const int64_t grid = options.imageSize / options.patchSize;
  patch_embed = register_module("patch_embed", PatchEmbed(options.patchSize, options.inChans, options.embedDim));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, grid, grid, options.embedDim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.depth; ++i) {
    const bool global = std::find(options.globalAttnIndexes.begin(), options.globalAttnIndexes.end(), i) !=
                        options.globalAttnIndexes.end();
    blockList_.emplace_back(options.embedDim, options.numHeads, options.mlpRatio, options.qkvBias,
                            options.useRelPos, options.lnEps, global ? 0 : options.windowSize, grid, grid);
    blocks->push_back(blockList_.back());
  }
  neck = register_module(
      "neck",
      torch::nn::Sequential(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(options.embedDim, options.outChans, 1).bias(false)),
          LayerNorm2d(options.outChans),
          torch::nn::Conv2d(torch::nn::Conv2dOptions(options.outChans, options.outChans, 3).padding(1).bias(false)),
          LayerNorm2d(options.outChans)));
}

torch::Tensor ImageEncoderViTImpl::forward(const torch::Tensor& input) {
  RECORD_USER_SCOPE("seqsam::image_encoder");
  require(input.dim() == 4 && input.size(1) == options_.inChans, code::kShape,
          "image encoder expects (B, " + std::to_string(options_.inChans) + ", H, W), got " +
              c10::str(input.sizes()));
  auto x = patch_embed->forward(input);
  require(x.size(1) == pos_embed.size(1) && x.size(2) == pos_embed.size(2), code::kShape,
          "image encoder input must be " + std::to_string(options_.imageSize) + "x" +
              std::to_string(options_.imageSize) + " (pad it first), got " + c10::str(input.sizes()));
  // The tokens in the weights' type from here on (float32 convolution output on the CPU, bf16 under CUDA
  // autocast: either way the sum with pos_embed is what type promotion gave before).
  x = x.to(pos_embed.scalar_type()) + pos_embed;
  for (auto& block : blockList_) x = block->forward(x);
  CpuConvolutionScope conv(x.permute({0, 3, 1, 2}));
  x = conv.input();
  // Each convolution reads its weights' type (float32 ones on the CPU); LayerNorm2d takes any input type.
  for (const auto& module : neck->children()) {
    if (auto* convolution = module->as<torch::nn::Conv2dImpl>()) {
      x = convolution->forward(x.to(convolution->weight.scalar_type()));
    } else {
      x = module->as<LayerNorm2dImpl>()->forward(x);
    }
  }
  return x.contiguous();
}

}  // namespace seqsam::sam
