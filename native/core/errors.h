// Errors that cross into JS carry a stable `code` beside a message naming what is at fault.
#pragma once
#include <stdexcept>
#include <string>

namespace seqsam {

namespace code {
inline constexpr const char* kShape = "ERR_SHAPE";
inline constexpr const char* kArgument = "ERR_ARGUMENT";
inline constexpr const char* kCheckpoint = "ERR_CHECKPOINT";
inline constexpr const char* kDevice = "ERR_DEVICE";
inline constexpr const char* kDisposed = "ERR_DISPOSED";
inline constexpr const char* kIo = "ERR_IO";
inline constexpr const char* kOutOfMemory = "ERR_OUT_OF_MEMORY";
inline constexpr const char* kTorch = "ERR_TORCH";
inline constexpr const char* kNative = "ERR_NATIVE";
// A training step whose loss or gradients are not finite (NaN or infinite): nothing was updated.
inline constexpr const char* kNumeric = "ERR_NUMERIC";
// A process group that cannot form or lost a rank, or ranks that disagree (the message names the rank).
inline constexpr const char* kDistributed = "ERR_DISTRIBUTED";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw Error(code, message); }

inline void require(bool condition, const char* code, const std::string& message) {
  if (!condition) fail(code, message);
}

}  // namespace seqsam
