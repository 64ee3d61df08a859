// Checkpoint files: torch.save (.pth) reading, safetensors reading and atomic writing.
#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/async_task.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "io/pickle_checkpoint.h"
#include "io/safetensors.h"

namespace seqsam::bindings {

namespace {

Napi::Value finishNamed(std::vector<std::pair<std::string, torch::Tensor>> tensors, Napi::Env env) {
  return js::namedTensors(env, tensors);
}

// readTorchCheckpoint(path) -> Promise<{ name: NativeTensor }>
Napi::Value readTorchCheckpoint(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1 && info[0].IsString(), code::kArgument, "readTorchCheckpoint(path): path must be a string");
    std::string path = info[0].As<Napi::String>();
    return runAsync(info.Env(), [path]() -> Finish {
      auto tensors = io::readTorchCheckpoint(path);
      return [tensors = std::move(tensors)](Napi::Env env) { return finishNamed(tensors, env); };
    });
  });
}

// readSafetensors(path, dataStart, [{ name, dtype, shape, begin, end }]) -> Promise<{ name: NativeTensor }>
Napi::Value readSafetensors(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 3 && info[0].IsString() && info[1].IsNumber() && info[2].IsArray(), code::kArgument,
            "readSafetensors(path, dataStart, entries): bad arguments");
    std::string path = info[0].As<Napi::String>();
    auto dataStart = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    auto entries = info[2].As<Napi::Array>();
    std::vector<io::TensorSlice> slices;
    for (uint32_t i = 0; i < entries.Length(); ++i) {
      Napi::Object e = entries.Get(i).As<Napi::Object>();
      io::TensorSlice s;
      s.name = js::getString(e, "name", path);
      std::string what = path + ": tensor '" + s.name + "'";
      s.dtype = parseDtype(js::getString(e, "dtype", what), what);
      s.shape = js::getIntArray(e, "shape", what);
      s.begin = static_cast<uint64_t>(js::getNumber(e, "begin", what));
      s.end = static_cast<uint64_t>(js::getNumber(e, "end", what));
      slices.push_back(std::move(s));
    }
    return runAsync(info.Env(), [path, dataStart, slices = std::move(slices)]() -> Finish {
      auto tensors = io::readSafetensors(path, dataStart, slices);
      return [tensors = std::move(tensors)](Napi::Env env) { return finishNamed(tensors, env); };
    });
  });
}

// writeSafetensors(path, headerJson, [NativeTensor...]) -> Promise<void>
Napi::Value writeSafetensors(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 3 && info[0].IsString() && info[1].IsString() && info[2].IsArray(), code::kArgument,
            "writeSafetensors(path, header, tensors): bad arguments");
    std::string path = info[0].As<Napi::String>();
    std::string header = info[1].As<Napi::String>();
    auto list = info[2].As<Napi::Array>();
    std::vector<torch::Tensor> tensors;
    for (uint32_t i = 0; i < list.Length(); ++i) tensors.push_back(TensorHandle::From(list.Get(i), path + ": tensor #" + std::to_string(i)));
    return runAsync(info.Env(), [path, header, tensors = std::move(tensors)]() -> Finish {
      io::writeSafetensors(path, header, tensors);
      return nullptr;
    });
  });
}

}  // namespace

void registerCheckpointIo(Napi::Env env, Napi::Object exports) {
  exports.Set("readTorchCheckpoint", Napi::Function::New(env, readTorchCheckpoint));
  exports.Set("readSafetensors", Napi::Function::New(env, readSafetensors));
  exports.Set("writeSafetensors", Napi::Function::New(env, writeSafetensors));
}

}  // namespace seqsam::bindings
