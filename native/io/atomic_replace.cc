#include "io/atomic_replace.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/errors.h"

namespace seqsam::io {

namespace {

std::string lockKey(const std::string& path) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
  return ec ? std::filesystem::absolute(path, ec).lexically_normal().string() : canonical.string();
}

// One mutex per file being written, shared by its concurrent writers and gone when the last one is done.
std::shared_ptr<std::mutex> replaceMutexFor(const std::string& path) {
  static std::mutex registryMutex;
  static std::map<std::string, std::weak_ptr<std::mutex>> registry;
  std::lock_guard<std::mutex> guard(registryMutex);
  for (auto it = registry.begin(); it != registry.end();) it = it->second.expired() ? registry.erase(it) : std::next(it);
  auto& slot = registry[lockKey(path)];
  std::shared_ptr<std::mutex> mutex = slot.lock();
  if (!mutex) slot = mutex = std::make_shared<std::mutex>();
  return mutex;
}

}  // namespace

ReplaceLock::ReplaceLock(const std::string& path) : mutex_(replaceMutexFor(path)), lock_(*mutex_) {}

std::FILE* createTempBeside(const std::string& path, std::string& temp) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    // "x": fail rather than share a file that exists (left by an earlier process with the same pid).
    if (std::FILE* f = std::fopen(temp.c_str(), "wbx")) return f;
    if (errno != EEXIST) break;
  }
  fail(code::kIo, path + ": cannot write (" + std::strerror(errno) + ")");
}

}  // namespace seqsam::io
