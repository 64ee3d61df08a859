// Stand-alone SeqSAM operations, for evaluation code, benchmarks and tests: Dice cost matrices,
// exact assignment, and the pooling rule.
#include <cmath>

#include "bindings/registry.h"
#include "core/async_task.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "seqsam/dice_cost.h"
#include "seqsam/hungarian.h"
#include "seqsam/pooling.h"

namespace seqsam::bindings {

namespace {

// diceCost(logits (B, M, H, W), labels (B, K, H, W), perPair) -> Promise<Tensor (B, M, K)>
Napi::Value diceCost(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 2, code::kArgument, "diceCost(logits, labels)");
    torch::Tensor logits = TensorHandle::From(info[0], "logits");
    torch::Tensor labels = TensorHandle::From(info[1], "labels");
    require(logits.dim() == 4 && labels.dim() == 4, code::kShape, "diceCost: logits and labels must be 4-D (B, M, H, W) / (B, K, H, W)");
    const bool perPair = info.Length() >= 3 && info[2].IsBoolean() && info[2].As<Napi::Boolean>();
    return runAsync(info.Env(), [logits, labels, perPair]() -> Finish {
      torch::NoGradGuard noGrad;
      auto l = logits.to(torch::kFloat);
      auto g = labels.to(logits.device(), torch::kFloat);
      torch::Tensor cost = perPair ? seq::diceCostPerPair(l, g) : seq::diceCost(l, g);
      return [cost](Napi::Env env) -> Napi::Value { return TensorHandle::Wrap(env, cost); };
    });
  });
}

// assignment(cost (B, R, C)) -> Promise<Tensor (B, R) int64>: the column matched to each row (-1: none).
Napi::Value assignment(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1, code::kArgument, "assignment(cost)");
    torch::Tensor cost = TensorHandle::From(info[0], "cost");
    return runAsync(info.Env(), [cost]() -> Finish {
      torch::Tensor out = seq::batchedAssignment(cost);
      return [out](Napi::Env env) -> Napi::Value { return TensorHandle::Wrap(env, out); };
    });
  });
}

// drawPicks(batch, numSteps, numLabels, pooling, seed) -> Tensor (B, P) int64
Napi::Value drawPicks(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 5 && info[0].IsNumber() && info[1].IsNumber() && info[2].IsNumber() && info[3].IsString() && info[4].IsNumber(),
            code::kArgument, "drawPicks(batch, numSteps, numLabels, pooling, seed)");
    int64_t batch = info[0].As<Napi::Number>().Int64Value();
    int64_t steps = info[1].As<Napi::Number>().Int64Value();
    int64_t labels = info[2].As<Napi::Number>().Int64Value();
    require(batch >= 1 && steps >= 1, code::kArgument, "drawPicks: batch and numSteps must be positive");
    std::mt19937_64 rng(static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value()));
    return TensorHandle::Wrap(info.Env(), seq::drawPicks(batch, steps, labels, seq::parsePooling(info[3].As<Napi::String>()), rng));
  });
}

// The non-empty tensor list of stack / cat (info[0]).
std::vector<torch::Tensor> tensorList(const Napi::CallbackInfo& info, const std::string& op) {
  require(info.Length() >= 1 && info[0].IsArray(), code::kArgument, op + "(tensors, dim)");
  auto list = info[0].As<Napi::Array>();
  require(list.Length() > 0, code::kArgument, op + ": the list is empty");
  std::vector<torch::Tensor> tensors;
  for (uint32_t i = 0; i < list.Length(); ++i) tensors.push_back(TensorHandle::From(list.Get(i), op + ": tensors[" + std::to_string(i) + "]"));
  return tensors;
}

// stack([Tensor...], dim) -> Tensor: joins same-shape tensors along a new axis, natively (e.g. cached
// embeddings into a batch) without a trip through JS.
Napi::Value stack(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::vector<torch::Tensor> tensors = tensorList(info, "stack");
    for (size_t i = 1; i < tensors.size(); ++i) {
      require(tensors[i].sizes() == tensors[0].sizes(), code::kShape,
              "stack: tensors[" + std::to_string(i) + "] has shape [" + c10::Join(", ", tensors[i].sizes()) + "], tensors[0] has [" +
                  c10::Join(", ", tensors[0].sizes()) + "]");
    }
    int64_t dim = info.Length() >= 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    require(dim >= 0 && dim <= tensors[0].dim(), code::kArgument, "stack: dim out of range");
    return TensorHandle::Wrap(info.Env(), torch::stack(tensors, dim));
  });
}

// cat([Tensor...], dim) -> Tensor
Napi::Value cat(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::vector<torch::Tensor> tensors = tensorList(info, "cat");
    int64_t dim = info.Length() >= 2 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 0;
    require(dim >= 0 && dim < tensors[0].dim(), code::kArgument, "cat: dim out of range");
    try {
      return TensorHandle::Wrap(info.Env(), torch::cat(tensors, dim));
    } catch (const c10::Error& e) {
      fail(code::kShape, std::string("cat: ") + e.what_without_backtrace());
    }
  });
}

// select(tensor, dim, index) -> Tensor: one slice (a copy), e.g. image i of a batch.
Napi::Value select(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 3 && info[1].IsNumber() && info[2].IsNumber(), code::kArgument, "select(tensor, dim, index)");
    torch::Tensor t = TensorHandle::From(info[0], "select: tensor");
    int64_t dim = info[1].As<Napi::Number>().Int64Value();
    int64_t index = info[2].As<Napi::Number>().Int64Value();
    require(dim >= 0 && dim < t.dim(), code::kArgument, "select: dim out of range");
    require(index >= 0 && index < t.size(dim), code::kArgument,
            "select: index " + std::to_string(index) + " outside 0.." + std::to_string(t.size(dim) - 1));
    return TensorHandle::Wrap(info.Env(), t.select(dim, index).clone());
  });
}

// valueStats(tensor) -> Promise<{ count, min, max, nonFinite, nonIntegral }>: what input validation needs to
// know about a tensor's values, from reductions on its own device and one small copy to the host (never a
// copy of the tensor through JS). min and max are NaN when the tensor is empty or holds a NaN.
Napi::Value valueStats(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1, code::kArgument, "valueStats(tensor)");
    torch::Tensor t = TensorHandle::From(info[0], "valueStats: tensor");
    return runAsync(info.Env(), [t]() -> Finish {
      torch::NoGradGuard noGrad;
      const double count = static_cast<double>(t.numel());
      double stats[4] = {std::nan(""), std::nan(""), 0, 0};  // min, max, nonFinite, nonIntegral
      if (t.numel() > 0) {
        torch::Tensor x = t.scalar_type() == torch::kBool ? t.to(torch::kByte) : t;
        auto opts = torch::TensorOptions().dtype(torch::kDouble).device(x.device());
        torch::Tensor nonFinite = torch::zeros({}, opts), nonIntegral = torch::zeros({}, opts);
        if (x.is_floating_point()) {
          nonFinite = torch::isfinite(x).logical_not().sum().to(torch::kDouble);
          nonIntegral = x.ne(x.trunc()).sum().to(torch::kDouble);  // NaN counts too
        }
        torch::Tensor packed = torch::stack({x.min().to(torch::kDouble), x.max().to(torch::kDouble), nonFinite, nonIntegral}).cpu();
        for (int i = 0; i < 4; ++i) stats[i] = packed[i].item<double>();
      }
      return [count, stats](Napi::Env env) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("count", count);
        out.Set("min", stats[0]);
        out.Set("max", stats[1]);
        out.Set("nonFinite", stats[2]);
        out.Set("nonIntegral", stats[3]);
        return out;
      };
    });
  });
}

}  // namespace

void registerOps(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("diceCost", Napi::Function::New(env, diceCost));
  ops.Set("assignment", Napi::Function::New(env, assignment));
  ops.Set("drawPicks", Napi::Function::New(env, drawPicks));
  ops.Set("stack", Napi::Function::New(env, stack));
  ops.Set("cat", Napi::Function::New(env, cat));
  ops.Set("select", Napi::Function::New(env, select));
  ops.Set("valueStats", Napi::Function::New(env, valueStats));
  registerObjectiveOps(env, ops);
  registerAdamW(env, ops);
  exports.Set("ops", ops);
}

}  // namespace seqsam::bindings
