// lin(x) followed by GELU as one matmul whose epilogue adds the bias and applies the activation
// (at::_addmm_activation: a cuBLASLt GELU_BIAS epilogue on CUDA), so the ViT's largest activation
// (rows × 4·dim) is written once instead of written, read and written again by a separate GELU.
//
// The epilogue's GELU is the tanh form, not SAM's erf form: they differ by at most 4.8e-4 (at x ≈ -2.70),
// an eighth of a bf16 unit roundoff at |GELU| ≥ 0.12 and well inside the bf16 rounding of everything
// around it, but visible in float32. Hence by default it runs only where that holds: held bf16 weights,
// on CUDA, in a pass that needs no gradient (_addmm_activation has no derivative).
// SEQSAM_GELU_EPILOGUE=1 forces it wherever no gradient is needed (any device and type, for tests and
// benchmarks), =0 never.
#pragma once
#include <torch/torch.h>

namespace seqsam::sam {

// GELU(x·weightᵀ + bias) over the last axis of x: fused as above, or torch::linear then SAM's erf GELU.
torch::Tensor linearGelu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

}  // namespace seqsam::sam
