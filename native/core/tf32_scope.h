// TF32 for float32 matmuls and convolutions on CUDA (Ampere and later: 10-bit mantissa products, float32
// accumulation), for the span of a call. LibTorch's switches for it are process-wide, not per thread or per
// model: while any scope is open, every float32 matmul and convolution the process runs on a GPU may use
// TF32; the last scope to close puts the switches back as they were. No effect on the CPU.
#pragma once

namespace seqsam {

class Tf32Scope {
 public:
  explicit Tf32Scope(bool on);
  ~Tf32Scope();
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool on_ = false;
};

// Whether a Tf32Scope is open now (anywhere in the process).
bool tf32Active();

}  // namespace seqsam
