// Runs native work on the libuv thread pool and settles a promise on the JS thread.
// `work` runs off the JS thread and returns a `Finish` that converts its result to JS values.
#pragma once
#include <napi.h>

#include <functional>

namespace seqsam {

using Finish = std::function<Napi::Value(Napi::Env)>;

Napi::Promise runAsync(Napi::Env env, std::function<Finish()> work);

}  // namespace seqsam
