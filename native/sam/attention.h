// softmax(q kᵀ / √c + mask) v through at::scaled_dot_product_attention (flash / memory-efficient kernels)
// on LibTorch 2.x, and the choice between it and the modules' explicit formulas.
#pragma once
#include <torch/torch.h>

namespace seqsam::sam {

// Whether attention on `device` goes through scaledDotProductAttention: by default on LibTorch 2.x off the
// CPU (where the explicit, cache-tuned formulas are faster). SEQSAM_ATTENTION=sdpa or =folded forces it
// everywhere, =explicit never (read at each call, for tests and benchmarks).
bool useFusedAttention(const torch::Device& device);

// Whether the encoder's rel-pos bias is folded into q and k (relPosFoldedAttention) rather than passed as
// an attention mask: by default wherever the fused path runs and SDPA takes an explicit scale (2.1+);
// SEQSAM_ATTENTION=folded forces it, =sdpa keeps the mask form.
bool foldRelPos(const torch::Device& device);

// q, k, v: (B, heads, N, c); mask: additive (B, heads, Nq, Nk) in q's type, or undefined. The scale is
// 1/√c unless given (> 0). LibTorch 1.13 has no fused kernel: there it is the same formula written out.
torch::Tensor scaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& mask = {}, double scale = 0.0);

// softmax(scale·q kᵀ + bias) v with SAM's decomposed relative-position bias
//   bias((y,x),(ky,kx)) = q(y,x)·relH[y,ky] + q(y,x)·relW[x,kx]
// folded into the dot product: q' = [scale·q, q·relHᵀ, q·relWᵀ], k' = [k, onehot(ky), onehot(kx)], so that
// q'·k' is the biased score and SDPA runs with no mask, on its flash / cuDNN kernels. Head dims are
// zero-padded to a multiple of 8 (v too, where kernels want equal dims). q, k, v: (B, heads, h·w, c);
// relH: (h, h, c), relW: (w, w, c).
torch::Tensor relPosFoldedAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    const torch::Tensor& relH, const torch::Tensor& relW, int64_t h, int64_t w,
                                    double scale);

}  // namespace seqsam::sam
