// The native AdamW on tensors the caller chooses, for tests of its update rule and modes and for benchmarks:
// `new ops.AdamW(params, options)` holds copies of the parameters and their moments; gradients are set per step.
// Synchronous calls: an optimizer step over a model's trainable set takes milliseconds.
#include <cmath>
#include <memory>

#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "cuda/sync_check.h"
#include "seqsam/adamw.h"

namespace seqsam::bindings {

namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

const char* adamwKernelsName(seq::AdamWKernels k) {
  switch (k) {
    case seq::AdamWKernels::Auto:
      return "auto";
    case seq::AdamWKernels::PerTensor:
      return "per-tensor";
    case seq::AdamWKernels::MultiTensor:
      return "multi-tensor";
    case seq::AdamWKernels::Fused:
      return "fused";
  }
  return "auto";
}

bool adamwOnCuda(const seq::AdamW& o) { return !o.params().empty() && o.params().front().second.is_cuda(); }

double adamwRate(const Napi::Value& v, const std::string& what) {
  require(v.IsNumber(), code::kArgument, what + " must be a number");
  const double lr = v.As<Napi::Number>().DoubleValue();
  require(std::isfinite(lr) && lr >= 0, code::kArgument, what + " must be finite and >= 0 (got " + std::to_string(lr) + ")");
  return lr;
}

seq::AdamWOptions readAdamWOptions(const Napi::Object& o) {
  const std::string what = "AdamW options";
  seq::AdamWOptions options;
  if (o.Has("lr")) options.lr = adamwRate(o.Get("lr"), what + ".lr");
  options.weightDecay = js::getNumberOr(o, "weightDecay", options.weightDecay, what);
  options.eps = js::getNumberOr(o, "eps", options.eps, what);
  require(std::isfinite(options.weightDecay) && options.weightDecay >= 0 && std::isfinite(options.eps) && options.eps > 0, code::kArgument,
          what + ": weightDecay must be finite and >= 0, eps finite and > 0");
  if (o.Has("betas")) {
    auto b = js::getNumberArray(o, "betas", what);
    require(b.size() == 2 && b[0] >= 0 && b[0] < 1 && b[1] >= 0 && b[1] < 1, code::kArgument, what + ".betas must be [b1, b2] in [0, 1)");
    options.beta1 = b[0];
    options.beta2 = b[1];
  }
  if (o.Has("decayExempt")) options.decayExempt = seq::parseDecayExemption(js::getString(o, "decayExempt", what));
  return options;
}

class AdamWHandle : public Napi::ObjectWrap<AdamWHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AdamW",
                       {
                           InstanceMethod<&AdamWHandle::SetGradients>("setGradients"),
                           InstanceMethod<&AdamWHandle::Step>("step"),
                           InstanceMethod<&AdamWHandle::RetractStep>("retractStep"),
                           InstanceMethod<&AdamWHandle::ZeroGrad>("zeroGrad"),
                           InstanceMethod<&AdamWHandle::SetLr>("setLr"),
                           InstanceMethod<&AdamWHandle::SetCapturable>("setCapturable"),
                           InstanceMethod<&AdamWHandle::StageScalars>("stageScalars"),
                           InstanceMethod<&AdamWHandle::CountReplayedStep>("countReplayedStep"),
                           InstanceMethod<&AdamWHandle::SetKernels>("setKernels"),
                           InstanceMethod<&AdamWHandle::Kernels>("kernels"),
                           InstanceMethod<&AdamWHandle::Steps>("steps"),
                           InstanceMethod<&AdamWHandle::DeviceStep>("deviceStep"),
                           InstanceMethod<&AdamWHandle::Params>("params"),
                           InstanceMethod<&AdamWHandle::State>("state"),
                           InstanceMethod<&AdamWHandle::LoadState>("loadState"),
                           InstanceMethod<&AdamWHandle::Dispose>("dispose"),
                       });
  }

  // new AdamW(params: { name: Tensor }, options: { lr, weightDecay, betas, eps, decayExempt })
  explicit AdamWHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWHandle>(info) {
    guarded(info.Env(), [&]() -> Napi::Value {
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "AdamW(params, options): params must be { name: Tensor }");
      Named params = js::readNamedTensors(info[0].As<Napi::Object>(), "AdamW params");
      for (auto& [name, t] : params) {
        require(t.is_floating_point(), code::kArgument, "AdamW params: '" + name + "' must be a floating-point tensor");
        t = t.detach().clone().set_requires_grad(true);
      }
      seq::AdamWOptions options = info.Length() >= 2 && info[1].IsObject() ? readAdamWOptions(info[1].As<Napi::Object>()) : seq::AdamWOptions{};
      optimizer_ = std::make_unique<seq::AdamW>(std::move(params), options);
      return info.Env().Undefined();
    });
  }

 private:
  seq::AdamW& live() {
    require(optimizer_ != nullptr, code::kDisposed, "AdamW: used after dispose()");
    return *optimizer_;
  }

  // setGradients({ name: Tensor }): these gradients for the next step; parameters not named get none.
  Napi::Value SetGradients(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "setGradients(grads): grads must be { name: Tensor }");
      Named grads = js::readNamedTensors(info[0].As<Napi::Object>(), "gradients");
      std::vector<torch::Tensor> byParam(o.params().size());
      for (const auto& [name, g] : grads) {
        size_t i = 0;
        while (i < o.params().size() && o.params()[i].first != name) ++i;
        require(i < o.params().size(), code::kArgument, "setGradients: no parameter '" + name + "'");
        const torch::Tensor& p = o.params()[i].second;
        require(g.sizes() == p.sizes(), code::kShape, "setGradients: '" + name + "' has the wrong shape");
        byParam[i] = g.detach().to(p.device(), p.scalar_type()).contiguous().clone();
      }
      for (size_t i = 0; i < byParam.size(); ++i) o.params()[i].second.mutable_grad() = byParam[i];
      return info.Env().Undefined();
    });
  }

  // step(apply?: boolean | Tensor): a boolean becomes a 0-d bool tensor on the parameters' device.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      torch::Tensor apply;
      if (info.Length() >= 1 && info[0].IsBoolean()) {
        const torch::Device device = o.params().empty() ? torch::Device(torch::kCPU) : o.params().front().second.device();
        apply = torch::tensor(static_cast<bool>(info[0].As<Napi::Boolean>()), torch::TensorOptions().dtype(torch::kBool)).to(device);
      } else if (info.Length() >= 1 && !info[0].IsUndefined() && !info[0].IsNull()) {
        apply = TensorHandle::From(info[0], "step: apply");
        require(apply.numel() == 1 && apply.scalar_type() == torch::kBool, code::kArgument, "step: apply must be a one-element bool tensor");
        apply = apply.reshape({});
      }
      // On a GPU the step queues its work without waiting for it (SEQSAM_CUDA_SYNC_CHECK=error makes any wait throw).
      cuda::NoSyncScope noSync(adamwOnCuda(o));
      o.step(apply);
      return info.Env().Undefined();
    });
  }

  Napi::Value RetractStep(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      live().retractStep();
      return info.Env().Undefined();
    });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      live().zeroGrad();
      return info.Env().Undefined();
    });
  }

  // setLr(lr): options().lr on the host (capturable mode: stageScalars() carries it to the device).
  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      require(info.Length() >= 1, code::kArgument, "setLr(lr)");
      o.options().lr = adamwRate(info[0], "setLr: lr");
      return info.Env().Undefined();
    });
  }

  Napi::Value SetCapturable(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      require(info.Length() >= 1 && info[0].IsBoolean(), code::kArgument, "setCapturable(on: boolean)");
      o.setCapturable(info[0].As<Napi::Boolean>());
      return info.Env().Undefined();
    });
  }

  Napi::Value StageScalars(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      cuda::NoSyncScope noSync(adamwOnCuda(o));
      o.stageScalars();
      return info.Env().Undefined();
    });
  }

  Napi::Value CountReplayedStep(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      live().countReplayedStep();
      return info.Env().Undefined();
    });
  }

  // setKernels('auto' | 'per-tensor' | 'multi-tensor' | 'fused')
  Napi::Value SetKernels(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      require(info.Length() >= 1 && info[0].IsString(), code::kArgument, "setKernels(name)");
      o.setKernels(seq::parseAdamWKernels(info[0].As<Napi::String>()));
      return info.Env().Undefined();
    });
  }

  // kernels(): what the next step will use.
  Napi::Value Kernels(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), adamwKernelsName(live().kernelsForNextStep())); });
  }

  Napi::Value Steps(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), static_cast<double>(live().steps())); });
  }

  // deviceStep(): the device's step count (capturable mode), read back to the host; null otherwise.
  Napi::Value DeviceStep(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      const torch::Tensor& step = live().deviceStep();
      if (!step.defined()) return info.Env().Null();
      return Napi::Number::New(info.Env(), step.item<double>());
    });
  }

  // params(): copies of the parameters now.
  Napi::Value Params(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      Named out;
      for (const auto& [name, p] : live().params()) out.emplace_back(name, p.detach().clone());
      return js::namedTensors(info.Env(), out);
    });
  }

  // state(): copies of the checkpoint state ("step", "<name>.exp_avg", "<name>.exp_avg_sq").
  Napi::Value State(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      Named out;
      for (const auto& [name, t] : live().state()) out.emplace_back(name, t.detach().clone());
      return js::namedTensors(info.Env(), out);
    });
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      seq::AdamW& o = live();
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "loadState(state)");
      o.loadState(js::readNamedTensors(info[0].As<Napi::Object>(), "optimizer state"), "loadState");
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    optimizer_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<seq::AdamW> optimizer_;
};

}  // namespace

void registerAdamW(Napi::Env env, Napi::Object ops) { ops.Set("AdamW", AdamWHandle::Define(env)); }

}  // namespace seqsam::bindings
