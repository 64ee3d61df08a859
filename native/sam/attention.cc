#include "sam/attention.h"

#include <torch/version.h>

#include <cmath>

#include "core/env_switch.h"

namespace seqsam::sam {

// SDPA's explicit `scale` argument arrived in 2.1.
#define SEQSAM_SDPA_TAKES_SCALE (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))

namespace {

bool attentionChoiceIs(const char* name) { return envIs("SEQSAM_ATTENTION", name); }

int64_t roundUpToMultiple(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

bool useFusedAttention(const torch::Device& device) {
  if (attentionChoiceIs("sdpa") || attentionChoiceIs("folded")) return true;
  if (attentionChoiceIs("explicit")) return false;
  return TORCH_VERSION_MAJOR >= 2 && !device.is_cpu();
}

bool foldRelPos(const torch::Device& device) {
  if (attentionChoiceIs("folded")) return true;
  if (attentionChoiceIs("sdpa") || attentionChoiceIs("explicit")) return false;
  return SEQSAM_SDPA_TAKES_SCALE && useFusedAttention(device);
}

torch::Tensor scaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& mask, double scale) {
#if TORCH_VERSION_MAJOR >= 2
#if SEQSAM_SDPA_TAKES_SCALE
  if (scale > 0) {
    // `{}` is an empty optional mask whichever optional type this version's signature uses.
    if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale);
  }
#endif
  TORCH_CHECK(scale <= 0 || std::abs(scale * std::sqrt(static_cast<double>(q.size(-1))) - 1.0) < 1e-12,
              "this LibTorch's scaled_dot_product_attention takes no explicit scale");
  // The mask converts to the optional parameter (c10::optional before 2.4, std::optional after) by itself.
  if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask);
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double factor = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * factor;
  if (mask.defined()) scores = scores + mask;
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

torch::Tensor relPosFoldedAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& relH, const torch::Tensor& relW, int64_t h, int64_t w,
                                    double scale) {
  const int64_t b = q.size(0), heads = q.size(1), n = q.size(2), c = q.size(3);
  TORCH_CHECK(n == h * w, "relPosFoldedAttention: ", n, " tokens for a ", h, "x", w, " grid");
  const auto type = q.scalar_type();
  // The bias's two factors per query: q(y,x)·relH[y,ky] for every key row ky, q(y,x)·relW[x,kx] for every
  // key column kx (unscaled, as in the reference).
  auto grid = q.reshape({b * heads, h, w, c});
  auto rowTerms = torch::einsum("bywc,ykc->bywk", {grid, relH.to(type)}).reshape({b, heads, n, h});
  auto colTerms = torch::einsum("bywc,wkc->bywk", {grid, relW.to(type)}).reshape({b, heads, n, w});
  // Each key's one-hot row and column pick those terms out of the dot product.
  auto options = q.options();
  auto rowOneHot = torch::eye(h, options).view({h, 1, h}).expand({h, w, h}).reshape({1, 1, n, h});
  auto colOneHot = torch::eye(w, options).view({1, w, w}).expand({h, w, w}).reshape({1, 1, n, w});
  const int64_t folded = c + h + w, padded = roundUpToMultiple(folded, 8);
  std::vector<torch::Tensor> qParts{q * scale, rowTerms, colTerms};
  std::vector<torch::Tensor> kParts{k, rowOneHot.expand({b, heads, n, h}), colOneHot.expand({b, heads, n, w})};
  if (padded > folded) {
    auto zeros = torch::zeros({b, heads, n, padded - folded}, options);
    qParts.push_back(zeros);
    kParts.push_back(zeros);
  }
  auto qFolded = torch::cat(qParts, -1);
  auto kFolded = torch::cat(kParts, -1);
  auto vPadded = torch::constant_pad_nd(v, {0, padded - c}, 0);
  return scaledDotProductAttention(qFolded, kFolded, vPadded, {}, 1.0).narrow(-1, 0, c);
}

}  // namespace seqsam::sam
