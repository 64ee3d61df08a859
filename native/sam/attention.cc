#include "sam/attention.h"

#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace seqsam::sam {

bool useFusedAttention(const torch::Device& device) {
  const char* choice = std::getenv("SEQSAM_ATTENTION");
  if (choice != nullptr && std::strcmp(choice, "sdpa") == 0) return true;
  if (choice != nullptr && std::strcmp(choice, "explicit") == 0) return false;
  return TORCH_VERSION_MAJOR >= 2 && !device.is_cpu();
}

torch::Tensor scaledDotProductAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        const torch::Tensor& mask) {
#if TORCH_VERSION_MAJOR >= 2
  // The mask converts to the optional parameter (c10::optional before 2.4, std::optional after) by itself.
  if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask);
  return at::scaled_dot_product_attention(q, k, v);
#else
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (mask.defined()) scores = scores + mask;
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

}  // namespace seqsam::sam
