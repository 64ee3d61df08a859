// The training objectives on their own, for tests and for checking a loss by hand: SeqSAM's matched set
// loss and the baselines' winner-takes-all loss, on logits and labels the caller chooses.
#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "seqsam/objectives.h"

namespace seqsam::bindings {

namespace {

std::string optionString(const Napi::Object& options, const char* key, const char* fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  require(v.IsString(), code::kArgument, std::string("objective options.") + key + " must be a string");
  return v.As<Napi::String>();
}

Napi::Object optionsAt(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() > index && info[index].IsObject()) return info[index].As<Napi::Object>();
  return Napi::Object::New(info.Env());
}

// setLoss(logits (B, M, H, W), labels (B, K, H, W), labelMask (B, K) | null, picks (B, P),
//         { matching, reduction, blankMasking }) -> { loss: number, cost: Tensor (B, P, K), assignment: Tensor (B, P) }
Napi::Value setLoss(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 4, code::kArgument, "setLoss(logits, labels, labelMask, picks, options)");
    torch::NoGradGuard noGrad;
    torch::Tensor logits = TensorHandle::From(info[0], "logits").to(torch::kFloat);
    torch::Tensor labels = TensorHandle::From(info[1], "labels").to(torch::kFloat);
    torch::Tensor labelMask = info[2].IsNull() || info[2].IsUndefined() ? torch::Tensor() : TensorHandle::From(info[2], "labelMask");
    torch::Tensor picks = TensorHandle::From(info[3], "picks").to(torch::kLong);
    require(logits.dim() == 4 && labels.dim() == 4, code::kShape, "setLoss: logits and labels must be (B, M, H, W) and (B, K, H, W)");
    require(picks.dim() == 2 && (picks.numel() == 0 || (picks.min().item<int64_t>() >= 0 && picks.max().item<int64_t>() < logits.size(1))),
            code::kArgument, "setLoss: picks must be (B, P) steps within 0..M-1");
    Napi::Object options = optionsAt(info, 4);
    seq::SetLoss out = seq::matchedSetLoss(logits, labels, labelMask, picks, seq::parseMatching(optionString(options, "matching", "hungarian")),
                                           seq::parseReduction(optionString(options, "reduction", "sum")),
                                           seq::parseBlankMasking(optionString(options, "blankMasking", "matched-label")));
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("loss", out.loss.item<double>());
    result.Set("cost", TensorHandle::Wrap(info.Env(), out.cost));
    result.Set("assignment", TensorHandle::Wrap(info.Env(), out.assignment));
    return result;
  });
}

// winnerLoss(logits (B, heads, H, W), labels (B, K, H, W), targets (B,), { reduction, baselineDice })
//   -> { loss: number, winner: Tensor (B,) }
Napi::Value winnerLoss(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 3, code::kArgument, "winnerLoss(logits, labels, targets, options)");
    torch::NoGradGuard noGrad;
    torch::Tensor logits = TensorHandle::From(info[0], "logits").to(torch::kFloat);
    torch::Tensor labels = TensorHandle::From(info[1], "labels").to(torch::kFloat);
    torch::Tensor targets = TensorHandle::From(info[2], "targets").to(torch::kLong);
    require(logits.dim() == 4 && labels.dim() == 4 && logits.size(0) == labels.size(0) && logits.size(2) == labels.size(2) &&
                logits.size(3) == labels.size(3),
            code::kShape, "winnerLoss: logits and labels must be (B, heads, H, W) and (B, K, H, W)");
    require(targets.dim() == 1 && targets.size(0) == labels.size(0) &&
                (targets.numel() == 0 || (targets.min().item<int64_t>() >= 0 && targets.max().item<int64_t>() < labels.size(1))),
            code::kArgument, "winnerLoss: targets must be (B,) label indices within 0..K-1");
    Napi::Object options = optionsAt(info, 3);
    seq::WinnerLoss out = seq::winnerTakesAllLoss(logits, labels, targets, seq::parseReduction(optionString(options, "reduction", "mean")),
                                                  seq::parseBaselineDice(optionString(options, "baselineDice", "whole-mask")));
    Napi::Object result = Napi::Object::New(info.Env());
    result.Set("loss", out.loss.item<double>());
    result.Set("winner", TensorHandle::Wrap(info.Env(), out.winner));
    return result;
  });
}

}  // namespace

void registerObjectiveOps(Napi::Env env, Napi::Object ops) {
  ops.Set("setLoss", Napi::Function::New(env, setLoss));
  ops.Set("winnerLoss", Napi::Function::New(env, winnerLoss));
}

}  // namespace seqsam::bindings
