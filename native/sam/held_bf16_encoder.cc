#include "sam/held_bf16_encoder.h"

#include <ATen/CPUGeneratorImpl.h>

namespace seqsam::sam {

namespace {

// Building the copy initialises its modules from torch's global generator; those values are overwritten at
// once, so the generator is put back as it was: holding bf16 weights draws no random numbers that a seeded
// run would miss later.
class GlobalGeneratorKept {
 public:
  GlobalGeneratorKept() : generator_(at::detail::getDefaultCPUGenerator()) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    state_ = generator_.get_state();
  }
  ~GlobalGeneratorKept() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(state_);
  }
  GlobalGeneratorKept(const GlobalGeneratorKept&) = delete;
  GlobalGeneratorKept& operator=(const GlobalGeneratorKept&) = delete;

 private:
  at::Generator generator_;
  at::Tensor state_;
};

}  // namespace

std::vector<torch::Tensor> HeldBf16Encoder::weightsOf(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out = module.parameters();
  for (const auto& buffer : module.buffers()) out.push_back(buffer);
  return out;
}

std::vector<HeldBf16Encoder::Stamp> HeldBf16Encoder::stampsOf(const std::vector<torch::Tensor>& weights) {
  std::vector<Stamp> out;
  out.reserve(weights.size());
  for (const auto& w : weights) out.push_back({w, w.data_ptr(), w._version()});
  return out;
}

ImageEncoderViT HeldBf16Encoder::makeCopy(const ImageEncoderViT& source, const torch::Device& device) {
  ImageEncoderViT copy{nullptr};
  {
    GlobalGeneratorKept kept;
    copy = ImageEncoderViT(source->options());
  }
  copy->to(device, torch::kBFloat16);
  if (device.is_cpu()) {
    // LibTorch's CPU bf16 convolution accumulates in bf16 (see CpuConvolutionScope): on the CPU the
    // convolutions keep float32 weights and run in float32; their inputs are cast to match.
    copy->patch_embed->to(torch::kFloat);
    for (const auto& module : copy->neck->children()) {
      if (module->as<torch::nn::Conv2dImpl>() != nullptr) module->to(torch::kFloat);
    }
  }
  for (auto& p : copy->parameters()) p.set_requires_grad(false);
  copy->eval();
  return copy;
}

ImageEncoderViT HeldBf16Encoder::get(const ImageEncoderViT& source) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::vector<torch::Tensor> weights = weightsOf(*source);
  const torch::Device device = weights.empty() ? torch::Device(torch::kCPU) : weights.front().device();
  std::vector<Stamp> stamps = stampsOf(weights);
  if (copy_ && device == device_ && stamps == stamps_) return copy_;
  // A copy still in use by another call keeps its weights for it: the new ones go into a fresh copy.
  if (!copy_ || device != device_ || copy_.ptr().use_count() > 1) {
    copy_ = makeCopy(source, device);
    device_ = device;
  }
  torch::NoGradGuard noGrad;
  const std::vector<torch::Tensor> targets = weightsOf(*copy_);
  TORCH_CHECK(targets.size() == weights.size(), "held bf16 encoder: ", targets.size(), " tensors for ", weights.size());
  for (size_t i = 0; i < weights.size(); ++i) targets[i].copy_(weights[i]);
  stamps_ = std::move(stamps);
  return copy_;
}

void HeldBf16Encoder::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  copy_ = nullptr;
  stamps_.clear();
}

}  // namespace seqsam::sam
