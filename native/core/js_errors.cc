#include "core/js_errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "core/errors.h"

namespace seqsam {

namespace {
bool looksLikeOutOfMemory(const std::string& message) {
  return message.find("out of memory") != std::string::npos ||
         message.find("can't allocate memory") != std::string::npos ||
         message.find("Tried to allocate") != std::string::npos;
}
}  // namespace

CaughtError classifyCurrentException() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.code(), e.what()};
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    return {looksLikeOutOfMemory(message) ? code::kOutOfMemory : code::kTorch, message};
  } catch (const std::bad_alloc&) {
    return {code::kOutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    std::string message = e.what();
    return {looksLikeOutOfMemory(message) ? code::kOutOfMemory : code::kNative, message};
  } catch (...) {
    return {code::kNative, "unknown native error"};
  }
}

Napi::Error makeJsError(Napi::Env env, const CaughtError& error) {
  Napi::Error jsError = Napi::Error::New(env, error.message);
  jsError.Set("code", Napi::String::New(env, error.code));
  return jsError;
}

}  // namespace seqsam
