// The LibTorch side of the GPU assignment kernel: tensors in, tensors out, on the cost's device and stream.
// Compiled into the addon only when SEQSAM_WITH_CUDA is 1 (the .cc is empty otherwise).
#pragma once
#include <torch/torch.h>

namespace seqsam::cuda {

// (B, R, C) costs on a CUDA device -> (B, R) int64 on that device: the column matched to each row, -1 where
// a row stays unmatched; no copy to the host and no synchronisation (the kernel runs on the current stream).
// A problem holding NaN or infinity comes back as -1 in every row (the CPU solver throws instead).
// Returns an undefined tensor when the kernel does not take the shape (a side over kMaxAssignmentSide).
torch::Tensor batchedAssignmentOnDevice(const torch::Tensor& cost);

}  // namespace seqsam::cuda
