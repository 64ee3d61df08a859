#include "seqsam/adamw_update.h"

namespace seqsam::seq {

namespace {

using Tensors = std::vector<torch::Tensor>;

// xs ← xs / f
void adamwDivide(Tensors& xs, const StepFactor& f, bool multiTensor) {
  if (f.device.defined()) {
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
    if (multiTensor) return at::_foreach_div_(xs, f.device);
#endif
    for (auto& x : xs) x.div_(f.device);
    return;
  }
  if (multiTensor) return at::_foreach_div_(xs, f.host);
  for (auto& x : xs) x.div_(f.host);
}

// m ← m + w·(g − m), LibTorch's lerp formula either way.
void adamwLerp(Tensors& ms, const Tensors& gs, double weight, bool multiTensor) {
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
  if (multiTensor) return at::_foreach_lerp_(ms, gs, weight);
#else
  (void)multiTensor;  // LibTorch 1.x has no multi-tensor lerp
#endif
  for (size_t i = 0; i < ms.size(); ++i) ms[i].lerp_(gs[i], weight);
}

// A new list xs·f, for a 0-d tensor f.
Tensors adamwScaled(const Tensors& xs, const torch::Tensor& f, bool multiTensor) {
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
  if (multiTensor) return at::_foreach_mul(xs, f);
#else
  (void)multiTensor;
#endif
  Tensors out;
  for (const auto& x : xs) out.push_back(x.mul(f));
  return out;
}

// p ← p + (−stepSize·m) / denom. The CPU's addcdiv rounds −stepSize·m, then the quotient, then the sum; with
// the factor on the device the product is taken first and the addcdiv's value is 1, so the roundings match.
void adamwStep(Tensors& ps, const Tensors& ms, const Tensors& denoms, const StepFactor& negStepSize, bool multiTensor) {
  if (!negStepSize.device.defined()) {
    if (multiTensor) return at::_foreach_addcdiv_(ps, ms, denoms, negStepSize.host);
    for (size_t i = 0; i < ps.size(); ++i) ps[i].addcdiv_(ms[i], denoms[i], negStepSize.host);
    return;
  }
  Tensors scaled = adamwScaled(ms, negStepSize.device, multiTensor);
  if (multiTensor) return at::_foreach_addcdiv_(ps, scaled, denoms);
  for (size_t i = 0; i < ps.size(); ++i) ps[i].addcdiv_(scaled[i], denoms[i]);
}

// One pass of every stage over the lists (a multi-tensor op each, or a loop of per-tensor ops).
void adamwStages(AdamWLists& l, const AdamWStepScalars& s, const AdamWConstants& c, bool multiTensor) {
  Tensors decaying;
  for (size_t i = 0; i < l.params.size(); ++i) {
    if (l.decays[i]) decaying.push_back(l.params[i]);
  }
  if (!decaying.empty()) scaleInPlace(decaying, s.decay, multiTensor);
  adamwLerp(l.expAvgs, l.grads, 1.0 - c.beta1, multiTensor);
  if (multiTensor) {
    at::_foreach_mul_(l.expAvgSqs, c.beta2);
    at::_foreach_addcmul_(l.expAvgSqs, l.grads, l.grads, 1.0 - c.beta2);
  } else {
    for (size_t i = 0; i < l.expAvgSqs.size(); ++i) l.expAvgSqs[i].mul_(c.beta2).addcmul_(l.grads[i], l.grads[i], 1.0 - c.beta2);
  }
  Tensors denoms;
  if (multiTensor) {
    denoms = at::_foreach_sqrt(l.expAvgSqs);
  } else {
    for (const auto& v : l.expAvgSqs) denoms.push_back(v.sqrt());
  }
  adamwDivide(denoms, s.sqrtBias2, multiTensor);
  if (multiTensor) {
    at::_foreach_add_(denoms, c.eps);
  } else {
    for (auto& d : denoms) d.add_(c.eps);
  }
  adamwStep(l.params, l.expAvgs, denoms, s.negStepSize, multiTensor);
}

}  // namespace

void scaleInPlace(std::vector<torch::Tensor>& xs, const StepFactor& f, bool multiTensor) {
  if (xs.empty()) return;  // a _foreach_ op refuses an empty list
  if (f.device.defined()) {
#if SEQSAM_TORCH_HAS_FOREACH_TENSOR_SCALARS
    if (multiTensor) return at::_foreach_mul_(xs, f.device);
#endif
    for (auto& x : xs) x.mul_(f.device);
    return;
  }
  if (multiTensor) return at::_foreach_mul_(xs, f.host);
  for (auto& x : xs) x.mul_(f.host);
}

void applyAdamW(AdamWLists& lists, const AdamWStepScalars& scalars, const AdamWConstants& constants, bool multiTensor) {
  torch::NoGradGuard noGrad;
  if (lists.params.empty()) return;  // a _foreach_ op refuses an empty list
  if (multiTensor) return adamwStages(lists, scalars, constants, true);
  // Per tensor: every stage of one tensor before the next, so its data is still in cache and only one
  // tensor's denominator exists at a time.
  for (size_t i = 0; i < lists.params.size(); ++i) {
    AdamWLists one{{lists.params[i]}, {lists.grads[i]}, {lists.expAvgs[i]}, {lists.expAvgSqs[i]}, {lists.decays[i]}};
    adamwStages(one, scalars, constants, false);
  }
}

}  // namespace seqsam::seq
