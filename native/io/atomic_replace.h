// Replacing a file atomically when several writers in this process (and others) may target it at once:
// each write goes to a temp file of its own, `<path>.tmp-<pid>-<n>` (lib/checkpoint/stale-temp.ts removes
// those a killed process left), and writes to one path are serialised, so the finished file is always one
// whole write, the last to finish.
#pragma once
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace seqsam::io {

// Held for the whole write-and-rename of `path`; other writes of the same file in this process wait.
class ReplaceLock {
 public:
  explicit ReplaceLock(const std::string& path);

 private:
  std::shared_ptr<std::mutex> mutex_;  // declared first: outlives the lock below
  std::unique_lock<std::mutex> lock_;
};

// Creates a new, empty temp file beside `path` (never one that exists) and opens it for writing.
// Returns the open file and sets `temp` to its name; throws ERR_IO naming `path` when it cannot.
std::FILE* createTempBeside(const std::string& path, std::string& temp);

}  // namespace seqsam::io
