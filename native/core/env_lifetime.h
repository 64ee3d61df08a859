// Whether a Node environment (the main thread or one worker thread) is shutting down. A terminated worker
// still completes the native work it had queued, but can no longer run JS: completions check this and
// drop their results natively instead of settling promises in a dying environment.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

namespace seqsam {

using EnvClosing = std::shared_ptr<const std::atomic<bool>>;

// Installs the cleanup hook that marks `env` closing (call once, from module init).
void watchEnvLifetime(Napi::Env env);

// The closing flag of `env`; it outlives the environment's instance data, so late completions can read it.
EnvClosing envClosing(Napi::Env env);

}  // namespace seqsam
