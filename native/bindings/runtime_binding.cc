// Versions, devices and thread settings.
#include <dlfcn.h>
#include <torch/torch.h>

#include <thread>

#include "bindings/registry.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/profiler.h"
#include "core/threads.h"
#include "cuda/cuda_graph.h"
#include "cuda/device_memory.h"

namespace seqsam::bindings {

namespace {

using BlasSetThreads = void (*)(int);
using BlasGetThreads = int (*)();

// OpenBLAS runs its own thread pool beside LibTorch's; both are sized here so they don't fight.
void setBlasThreads(int n) {
  if (auto fn = reinterpret_cast<BlasSetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}

int blasThreads() {
  auto fn = reinterpret_cast<BlasGetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return fn ? fn() : -1;
}

Napi::Value runtimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchVersion", std::string(TORCH_VERSION));
  out.Set("cuda", torch::cuda::is_available());
  out.Set("cudaDevices", static_cast<double>(torch::cuda::is_available() ? torch::cuda::device_count() : 0));
  out.Set("builtWithCuda", static_cast<bool>(SEQSAM_WITH_CUDA));
  out.Set("cudaGraphs", cuda::graphsAvailable());
  out.Set("threads", at::get_num_threads());
  out.Set("interopThreads", at::get_num_interop_threads());
  out.Set("blasThreads", blasThreads());
  out.Set("hardwareThreads", static_cast<double>(std::thread::hardware_concurrency()));
  out.Set("parallelInfo", at::get_parallel_info());
  out.Set("cxx11Abi", static_cast<bool>(_GLIBCXX_USE_CXX11_ABI));
  return out;
}

// setThreads(torchThreads, blasThreads)
Napi::Value setThreads(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber(), code::kArgument,
            "setThreads(torch, blas): both must be numbers");
    int torchThreads = info[0].As<Napi::Number>().Int32Value();
    int blas = info[1].As<Napi::Number>().Int32Value();
    require(torchThreads >= 1 && torchThreads <= 1024, code::kArgument, "threads.torch must be between 1 and 1024");
    require(blas >= 1 && blas <= 1024, code::kArgument, "threads.blas must be between 1 and 1024");
    setConfiguredThreads(torchThreads);
    setBlasThreads(blas);
    return info.Env().Undefined();
  });
}

Napi::Value manualSeed(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1 && info[0].IsNumber(), code::kArgument, "manualSeed(seed): seed must be a number");
    torch::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
    return info.Env().Undefined();
  });
}

// cudaMemory(index) -> { free, total } bytes of a CUDA device, or null (no CUDA in this build or machine).
Napi::Value cudaMemory(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1 && info[0].IsNumber(), code::kArgument, "cudaMemory(index): index must be a number");
    const int index = info[0].As<Napi::Number>().Int32Value();
    if (!torch::cuda::is_available() || index < 0 || index >= static_cast<int>(torch::cuda::device_count())) return info.Env().Null();
    const auto memory = cuda::deviceMemory(index);
    if (!memory) return info.Env().Null();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("free", static_cast<double>(memory->freeBytes));
    out.Set("total", static_cast<double>(memory->totalBytes));
    return out;
  });
}

// profileStart(withCuda): LibTorch's profiler on, for every seqsam call until profileStop.
Napi::Value profileStart(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 1 && info[0].IsBoolean(), code::kArgument, "profileStart(withCuda): withCuda must be a boolean");
    startProfiling(info[0].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

// profileStop() -> the session's Chrome trace (JSON text).
Napi::Value profileStop(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), stopProfiling()); });
}

}  // namespace

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("runtimeInfo", Napi::Function::New(env, runtimeInfo));
  exports.Set("setThreads", Napi::Function::New(env, setThreads));
  exports.Set("manualSeed", Napi::Function::New(env, manualSeed));
  exports.Set("cudaMemory", Napi::Function::New(env, cudaMemory));
  exports.Set("profileStart", Napi::Function::New(env, profileStart));
  exports.Set("profileStop", Napi::Function::New(env, profileStop));
}

}  // namespace seqsam::bindings
