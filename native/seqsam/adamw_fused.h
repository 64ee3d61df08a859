// AdamW as LibTorch's fused multi-tensor kernel (at::_fused_adamw_), for CUDA parameters on LibTorch ≥ 2.2:
// the rate and the step count are read from device tensors when the kernel runs, and `found_inf` skips the
// whole update on the device, so a captured CUDA graph replays it with the current values and no host read.
#pragma once
#include <torch/torch.h>

#include "seqsam/adamw_update.h"

namespace seqsam::seq {

// Whether this build's LibTorch has the kernel for parameters on `device`.
bool fusedAdamWAvailable(const torch::Device& device);

// One fused step over `lists`, one kernel call per (decays, dtype) group. `step`: 0-d float32 on the device,
// already advanced (the kernel reads it as float); `lr`: 0-d float32 on the device; `skip`: 0-d float32, 1 to
// leave every tensor unchanged, or undefined.
void fusedAdamW(const AdamWLists& lists, const torch::Tensor& step, const torch::Tensor& lr, const torch::Tensor& skip,
                double weightDecay, const AdamWConstants& constants);

}  // namespace seqsam::seq
