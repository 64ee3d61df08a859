// The arithmetic of one AdamW step on lists of tensors, issued one tensor at a time or as multi-tensor
// (_foreach_) ops. Both issue the same elementwise operations with the same scalars, so on the CPU (where a
// _foreach_ op is a loop over the per-tensor op) their results are bit-identical; on a GPU the multi-tensor
// form needs a handful of kernel launches per step instead of several per tensor.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#include <vector>

// LibTorch 2.2 has what a step with device scalars needs as multi-tensor ops: _foreach_mul_ / _foreach_div_
// by a 0-d tensor (2.1 / 2.2), _foreach_lerp_ (2.0), and _fused_adamw_ with the rate as a tensor (2.2).
// SEQSAM_FUSED_OPTIMIZER=0 (CMake -DSEQSAM_FUSED_OPTIMIZER=OFF) builds without them, should a LibTorch's
// signatures not fit this code: the step then issues per-tensor ops.
#ifndef SEQSAM_FUSED_OPTIMIZER
#define SEQSAM_FUSED_OPTIMIZER 1
#endif
#define SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS \
  (SEQSAM_FUSED_OPTIMIZER && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)))

namespace seqsam::seq {

// The parameters of one step that hold a gradient, as parallel lists; `decays[i]` says whether params[i] decays.
struct AdamWLists {
  std::vector<torch::Tensor> params, grads, expAvgs, expAvgSqs;
  std::vector<bool> decays;
};

// A factor that changes from step to step: a host number, or (capturable mode) a 0-d tensor on the
// parameters' device, read by the kernels when they run.
struct StepFactor {
  double host = 0;
  torch::Tensor device;
};

struct AdamWStepScalars {
  StepFactor decay;        // 1 − lr·weightDecay
  StepFactor sqrtBias2;    // √(1 − β2^t)
  StepFactor negStepSize;  // −lr / (1 − β1^t)
};

// Fixed for the optimizer's life: a captured graph keeps them as kernel arguments.
struct AdamWConstants {
  double beta1, beta2, eps;
};

// xs ← xs·f in place: one multi-tensor op where this LibTorch has it for f's form, else one op per tensor
// (the same bits on the CPU). Also the gradient clipping's scaling.
void scaleInPlace(std::vector<torch::Tensor>& xs, const StepFactor& f, bool multiTensor);

// p ← p·decay (decaying ones); m ← lerp(m, g, 1−β1); v ← β2·v + (1−β2)·g²; p ← p − stepSize·m / (√v/√bias2 + ε).
// Multi-tensor ops are used where this LibTorch has them for the scalar's form; the others stay per tensor.
void applyAdamW(AdamWLists& lists, const AdamWStepScalars& scalars, const AdamWConstants& constants, bool multiTensor);

}  // namespace seqsam::seq
