// The seqsam native module: LibTorch models and tensors behind Node-API.
#include <napi.h>
#include <torch/torch.h>

#include <thread>

#include "bindings/registry.h"
#include "core/addon_data.h"
#include "core/cpu_block_cache.h"
#include "core/env_lifetime.h"
#include "core/fork_guard.h"
#include "core/threads.h"
#include "core/tensor_handle.h"

namespace seqsam {

AddonData& addonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  watchEnvLifetime(env);
  // Debian's LibTorch starts with one intra-op thread; use the CPUs this process may run on (JS may change it).
  static std::once_flag threadsOnce;
  std::call_once(threadsOnce, [] {
    setConfiguredThreads(usableCpus());
    // After LibTorch and its BLAS are loaded, so that this fork handler runs before theirs.
    installForkGuard();
    // Large CPU blocks are reused between steps instead of faulted in anew (see cpu_block_cache.h).
    installCpuBlockCache(size_t{2} << 30);
  });
  TensorHandle::Register(env, exports);
  bindings::registerRuntime(env, exports);
  bindings::registerCheckpointIo(env, exports);
  bindings::registerModel(env, exports);
  bindings::registerOps(env, exports);
  bindings::registerMetrics(env, exports);
  bindings::registerDistributed(env, exports);
  return exports;
}

}  // namespace
}  // namespace seqsam

static Napi::Object InitSeqsam(Napi::Env env, Napi::Object exports) { return seqsam::init(env, exports); }

NODE_API_MODULE(seqsam, InitSeqsam)
