// softmax(q kᵀ / √c + mask) v through at::scaled_dot_product_attention (flash / memory-efficient kernels)
// on LibTorch 2.x, and the choice between it and the modules' explicit formulas.
#pragma once
#include <torch/torch.h>

namespace seqsam::sam {

// Whether attention on `device` goes through scaledDotProductAttention: by default on LibTorch 2.x off the
// CPU (where the explicit, cache-tuned formulas are faster). SEQSAM_ATTENTION=sdpa forces it everywhere,
// =explicit never (read at each call, for tests and benchmarks).
bool useFusedAttention(const torch::Device& device);

// q, k, v: (B, heads, N, c); mask: additive (B, heads, Nq, Nk) in q's type, or undefined. The scale is
// 1/√c. LibTorch 1.13 has no fused kernel: there it is the same formula written out.
torch::Tensor scaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& mask = {});

}  // namespace seqsam::sam
