// Turns any native exception into a JS Error with a `code`; nothing escapes as a C++ abort.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <string>

#include "core/fork_guard.h"

namespace seqsam {

struct CaughtError {
  std::string code;
  std::string message;
};

// Classifies the exception currently being handled (call from inside a catch block).
CaughtError classifyCurrentException();

Napi::Error makeJsError(Napi::Env env, const CaughtError& error);

// Runs `body` on the JS thread, rethrowing native failures as coded JS errors. A fork waits for it (see
// core/fork_guard.h).
template <typename Body>
Napi::Value guarded(Napi::Env env, Body&& body) {
  const ComputeScope computing;
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw makeJsError(env, classifyCurrentException());
  }
}

}  // namespace seqsam
