// The image encoder's weights converted to bfloat16 once and held, for bf16 forwards that need no gradient
// (embedding, a frozen encoder in training). Autocast would cast every frozen weight again in every call
// (its cache keeps only leaves that require grad, and only for one scope) and bounce the activations
// between float32 and bf16; on the held copy the activations stay bf16 from the patch embedding to the
// neck, with LayerNorm and softmax reading bf16 and accumulating in float32.
//
// The copy follows its source: before each use, every parameter and buffer of the source is compared
// with what the copy was made from (tensor, storage, version counter, device), so any in-place write
// (checkpoint load, optimizer step, broadcast) or replaced tensor makes it copy the weights again.
#pragma once
#include <torch/torch.h>

#include <mutex>
#include <vector>

#include "sam/image_encoder.h"

namespace seqsam::sam {

class HeldBf16Encoder {
 public:
  // A bf16 copy of `source` with its current weights (refreshed here if any of them changed since).
  ImageEncoderViT get(const ImageEncoderViT& source);
  // Frees the copy (the next get makes a new one).
  void release();

 private:
  struct Stamp {
    torch::Tensor tensor;  // held, so that no other tensor can take its address while the stamp stands
    const void* data;
    int64_t version;
    bool operator==(const Stamp& other) const {
      return tensor.unsafeGetTensorImpl() == other.tensor.unsafeGetTensorImpl() && data == other.data &&
             version == other.version;
    }
  };
  static std::vector<torch::Tensor> weightsOf(const torch::nn::Module& module);
  static std::vector<Stamp> stampsOf(const std::vector<torch::Tensor>& weights);
  static ImageEncoderViT makeCopy(const ImageEncoderViT& source, const torch::Device& device);

  std::mutex mutex_;
  ImageEncoderViT copy_{nullptr};
  torch::Device device_{torch::kCPU};
  std::vector<Stamp> stamps_;
};

}  // namespace seqsam::sam
