// Per-environment state of the addon (worker threads each load their own copy).
#pragma once
#include <napi.h>

namespace seqsam {

struct AddonData {
  Napi::FunctionReference tensorConstructor;
};

AddonData& addonData(Napi::Env env);

}  // namespace seqsam
