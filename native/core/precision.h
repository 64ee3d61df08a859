// Numeric precision of a model's forward passes: float32 throughout, float32 with TF32 matmuls and
// convolutions on CUDA (tf32: float32 weights and activations, 10-bit mantissa products; the same as fp32 on
// the CPU; see core/tf32_scope.h), or bfloat16. bf16 runs as autocast
// (matmuls and convolutions in bf16, reductions and norms in float32, weights kept in float32) wherever a
// gradient is needed; a frozen image encoder instead runs on a copy of its weights held in bf16 (see
// sam/held_bf16_encoder.h), activations in bf16 end to end.
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "core/tf32_scope.h"

namespace seqsam {

enum class Precision { Fp32, Bf16, Tf32 };

Precision parsePrecision(const std::string& name);  // 'fp32' | 'bf16' | 'tf32'
const char* precisionName(Precision precision);

// Whether bf16 forwards that need no gradient may run on weights held in bf16 (the default) rather than
// under autocast: SEQSAM_BF16_WEIGHTS=autocast keeps autocast everywhere (read at each call, for tests and
// benchmarks that compare the two).
bool holdBf16Weights();

// Whether autocast is on for `type` on this thread now (an AutocastScope, or a caller's autocast, is open).
bool autocastEnabled(c10::DeviceType type);

// Turns autocast on for `device`'s type for the scope's lifetime (on this thread: autocast state is
// thread-local, so each worker call opens its own), and restores the previous state after. Fp32: no-op.
// Tf32: no autocast; TF32 allowed for the scope's lifetime (a process-wide switch, see Tf32Scope).
// Autocast's cast cache (at::autocast::cached_cast: the rule read in 2.x's autocast_mode.cpp, and seen on
// 1.13, where a weight changed in place between two uses in one scope goes unseen only if it requires
// grad) keeps only the casts of float32 leaves that require grad and are not views, until the outermost
// scope closes: the trainable weights (float32 masters) are cast once per scope, but frozen weights
// (requires_grad false) and views of weights are cast again at every use, in every call.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  std::optional<Tf32Scope> tf32_;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool wasEnabled_ = false;
  c10::ScalarType previousType_ = c10::ScalarType::Float;
};

// Ops in its scope run in their inputs' types even inside an AutocastScope: for the parts of a bf16 forward
// that must stay float32.
class NoAutocastScope {
 private:
  c10::impl::ExcludeDispatchKeyGuard guard_{c10::autocast_dispatch_keyset};
};

// LibTorch's CPU bf16 convolution accumulates in bf16 (5% relative error over 2304 terms, measured on 1.13)
// where GPUs accumulate in float32: on the CPU, convolutions leave autocast and run in float32. Wrap a
// convolution (or a block of them) in one of these and feed it input().
class CpuConvolutionScope {
 public:
  explicit CpuConvolutionScope(const torch::Tensor& x);
  const torch::Tensor& input() const { return input_; }

 private:
  std::optional<c10::impl::ExcludeDispatchKeyGuard> guard_;
  torch::Tensor input_;
};

}  // namespace seqsam
