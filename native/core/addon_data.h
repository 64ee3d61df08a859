// Per-environment state of the addon (worker threads each load their own copy).
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

namespace seqsam {

struct AddonData {
  Napi::FunctionReference tensorConstructor;
  // Set once the environment shuts down (see env_lifetime.h).
  std::shared_ptr<std::atomic<bool>> closing;
};

AddonData& addonData(Napi::Env env);

}  // namespace seqsam
