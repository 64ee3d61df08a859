// distributed.*: joining a c10d process group from JS, and the few collectives the JS side needs (a barrier,
// sums of numbers for sharded evaluation, an agreement check). The training step's gradient all-reduce is
// native (seqsam/trainer.cc through distributed/gradient_buckets.h).
#include <napi.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/async_task.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "distributed/process_group.h"

namespace seqsam::bindings {

namespace {

std::shared_ptr<dist::Group> joinedGroup(const std::string& call) {
  auto group = dist::activeGroup();
  require(group != nullptr, code::kDistributed, "distributed." + call + ": this process has not joined a process group (distributed.init)");
  return group;
}

Napi::Object describe(Napi::Env env, const dist::Group& group) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", group.rank());
  out.Set("worldSize", group.worldSize());
  out.Set("backend", group.backendName());
  return out;
}

int intField(const Napi::Object& o, const char* key, int fallback, int min, int max) {
  const double v = js::getNumberOr(o, key, fallback, "distributed.init options");
  require(std::isfinite(v) && v == std::floor(v) && v >= min && v <= max, code::kArgument,
          std::string("distributed.init: ") + key + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) + " (got " +
              std::to_string(v) + ")");
  return static_cast<int>(v);
}

// init({ rank, worldSize, masterAddr, masterPort, timeoutMs, backend, deviceIndex }) -> Promise<{ rank, worldSize, backend }>
Napi::Value init(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "distributed.init(options)");
    require(dist::activeGroup() == nullptr, code::kDistributed, "distributed.init: this process already joined a process group (destroy() it first)");
    Napi::Object o = info[0].As<Napi::Object>();
    dist::JoinOptions options;
    options.worldSize = intField(o, "worldSize", 1, 1, 1 << 20);
    options.rank = intField(o, "rank", 0, 0, options.worldSize - 1);
    options.masterAddr = o.Has("masterAddr") && !o.Get("masterAddr").IsUndefined() ? js::getString(o, "masterAddr", "distributed.init options") : "127.0.0.1";
    options.masterPort = intField(o, "masterPort", 29500, 1, 65535);
    options.timeout = std::chrono::milliseconds(intField(o, "timeoutMs", 60000, 1, 24 * 3600 * 1000));
    if (o.Has("backend") && !o.Get("backend").IsUndefined()) options.backend = js::getString(o, "backend", "distributed.init options");
    options.deviceIndex = intField(o, "deviceIndex", 0, 0, 1023);
    return runAsync(info.Env(), [options]() -> Finish {
      auto group = dist::Group::join(options);
      dist::setActiveGroup(group);
      return [group](Napi::Env env) { return describe(env, *group); };
    });
  });
}

Napi::Value current(const Napi::CallbackInfo& info) {
  auto group = dist::activeGroup();
  return group ? static_cast<Napi::Value>(describe(info.Env(), *group)) : info.Env().Null();
}

Napi::Value barrier(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto group = joinedGroup("barrier");
    return runAsync(info.Env(), [group]() -> Finish {
      group->barrier();
      return nullptr;
    });
  });
}

// allReduceSum(Float64Array) -> Promise<Float64Array>: the element-wise sum over ranks.
Napi::Value allReduceSum(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto group = joinedGroup("allReduceSum");
    require(info.Length() >= 1 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array,
            code::kArgument, "distributed.allReduceSum(values): values must be a Float64Array");
    Napi::Float64Array input = info[0].As<Napi::Float64Array>();
    std::vector<double> values(input.Data(), input.Data() + input.ElementLength());
    return runAsync(info.Env(), [group, values = std::move(values)]() -> Finish {
      torch::Tensor t = torch::tensor(values, torch::kDouble).to(group->device());
      if (!values.empty()) group->allReduceSum(t);
      torch::Tensor host = t.cpu().contiguous();
      std::vector<double> out(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
      return [out = std::move(out)](Napi::Env env) -> Napi::Value {
        Napi::Float64Array result = Napi::Float64Array::New(env, out.size());
        std::copy(out.begin(), out.end(), result.Data());
        return result;
      };
    });
  });
}

// broadcast(tensors, root) -> Promise<void>: in place, every rank ends with rank `root`'s values (e.g. the
// live views of a model's weights, so every rank starts from rank 0's).
Napi::Value broadcast(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto group = joinedGroup("broadcast");
    require(info.Length() >= 2 && info[0].IsArray() && info[1].IsNumber(), code::kArgument, "distributed.broadcast(tensors, root)");
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<torch::Tensor> tensors;
    for (uint32_t i = 0; i < list.Length(); ++i) tensors.push_back(TensorHandle::From(list.Get(i), "distributed.broadcast: tensors[" + std::to_string(i) + "]"));
    const int root = info[1].As<Napi::Number>().Int32Value();
    require(root >= 0 && root < group->worldSize(), code::kArgument,
            "distributed.broadcast: root " + std::to_string(root) + " is outside the world of " + std::to_string(group->worldSize()));
    return runAsync(info.Env(), [group, tensors = std::move(tensors), root]() mutable -> Finish {
      group->broadcast(tensors, root);
      return nullptr;
    });
  });
}

// agree(what, digest) -> Promise<void>: refused (ERR_DISTRIBUTED) unless every rank passed the same digest.
Napi::Value agree(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto group = joinedGroup("agree");
    require(info.Length() >= 2 && info[0].IsString() && info[1].IsString(), code::kArgument, "distributed.agree(what, digest): two strings");
    std::string what = info[0].As<Napi::String>().Utf8Value();
    std::string digest = info[1].As<Napi::String>().Utf8Value();
    return runAsync(info.Env(), [group, what, digest]() -> Finish {
      group->agree(what, digest);
      return nullptr;
    });
  });
}

// destroy(): leaves the group (no collective; call barrier() first for an orderly end).
Napi::Value destroy(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (auto group = dist::activeGroup()) {
      dist::setActiveGroup(nullptr);
      group->leave();
    }
    return info.Env().Undefined();
  });
}

}  // namespace

void registerDistributed(Napi::Env env, Napi::Object exports) {
  Napi::Object d = Napi::Object::New(env);
  d.Set("available", Napi::Boolean::New(env, dist::available()));
  d.Set("unavailableReason", Napi::String::New(env, dist::unavailableReason()));
  d.Set("init", Napi::Function::New(env, init));
  d.Set("current", Napi::Function::New(env, current));
  d.Set("barrier", Napi::Function::New(env, barrier));
  d.Set("allReduceSum", Napi::Function::New(env, allReduceSum));
  d.Set("agree", Napi::Function::New(env, agree));
  d.Set("broadcast", Napi::Function::New(env, broadcast));
  d.Set("destroy", Napi::Function::New(env, destroy));
  exports.Set("distributed", d);
}

}  // namespace seqsam::bindings
