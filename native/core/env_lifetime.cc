#include "core/env_lifetime.h"

#include "core/addon_data.h"

namespace seqsam {

void watchEnvLifetime(Napi::Env env) {
  auto closing = std::make_shared<std::atomic<bool>>(false);
  addonData(env).closing = closing;
  // Cleanup hooks run when the environment is torn down (worker terminate() or exit), before Node waits
  // for the thread-pool work still in flight; the hook owns its own reference to the flag.
  auto* hookFlag = new std::shared_ptr<std::atomic<bool>>(closing);
  napi_add_env_cleanup_hook(
      env,
      [](void* data) {
        auto* flag = static_cast<std::shared_ptr<std::atomic<bool>>*>(data);
        (*flag)->store(true);
        delete flag;
      },
      hookFlag);
}

EnvClosing envClosing(Napi::Env env) { return addonData(env).closing; }

}  // namespace seqsam
