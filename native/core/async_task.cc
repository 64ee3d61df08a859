#include "core/async_task.h"

#include <torch/torch.h>

#include "core/env_lifetime.h"
#include "core/fork_guard.h"
#include "core/js_errors.h"
#include "core/profiler.h"
#include "core/threads.h"

namespace seqsam {

namespace {

class AsyncTask : public Napi::AsyncWorker {
 public:
  AsyncTask(Napi::Env env, std::function<Finish()> work)
      : Napi::AsyncWorker(env, "seqsam"),
        deferred_(Napi::Promise::Deferred::New(env)),
        closing_(envClosing(env)),
        profiling_(profilingState()),
        work_(std::move(work)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // A profiling session started on the JS thread records this call on the worker too.
    std::optional<at::ThreadLocalStateGuard> profiled;
    if (profiling_) profiled.emplace(*profiling_);
    const ComputeScope computing;  // a fork waits for it (core/fork_guard.h)
    try {
      applyConfiguredThreads();
      finish_ = work_();
    } catch (...) {
      error_ = classifyCurrentException();
      failed_ = true;
    }
    work_ = nullptr;  // release captured tensors on the worker, not later on the JS thread
  }

  void OnOK() override {
    if (droppedAtShutdown()) return;
    Napi::Env env = Env();
    if (failed_) {
      deferred_.Reject(makeJsError(env, error_).Value());
      return;
    }
    try {
      deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(makeJsError(env, classifyCurrentException()).Value());
    }
    finish_ = nullptr;
  }

  void OnError(const Napi::Error& e) override {
    if (!droppedAtShutdown()) deferred_.Reject(e.Value());
  }

 private:
  // A worker thread terminated while this ran: its environment can no longer run JS, so the result is
  // freed here (native memory only) and the promise, which nobody can observe any more, stays pending.
  bool droppedAtShutdown() {
    if (!closing_ || !closing_->load()) return false;
    finish_ = nullptr;
    return true;
  }

  Napi::Promise::Deferred deferred_;
  EnvClosing closing_;
  std::optional<at::ThreadLocalState> profiling_;
  std::function<Finish()> work_;
  Finish finish_;
  CaughtError error_;
  bool failed_ = false;
};

}  // namespace

Napi::Promise runAsync(Napi::Env env, std::function<Finish()> work) {
  auto* task = new AsyncTask(env, std::move(work));
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

}  // namespace seqsam
