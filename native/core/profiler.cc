#include "core/profiler.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <atomic>
#include <cstdio>
#include <iomanip>
#include <mutex>
#include <set>
#include <sstream>

#include "core/errors.h"

namespace seqsam {

namespace {

namespace impl = torch::profiler::impl;
namespace autograd_profiler = torch::autograd::profiler;

std::mutex sessionMutex;
std::optional<at::ThreadLocalState> sessionState;  // guarded by sessionMutex
std::atomic<bool> sessionOn{false};

// Event times in microseconds: LibTorch 1.13 reports them in µs, later versions in ns.
template <typename Event>
auto startMicros(const Event& e, int) -> decltype(e.startNs(), double()) { return e.startNs() / 1000.0; }
template <typename Event>
double startMicros(const Event& e, long) { return static_cast<double>(e.startUs()); }
template <typename Event>
auto durationMicros(const Event& e, int) -> decltype(e.durationNs(), double()) { return e.durationNs() / 1000.0; }
template <typename Event>
double durationMicros(const Event& e, long) { return static_cast<double>(e.durationUs()); }

void writeJsonString(std::ostringstream& out, const std::string& text) {
  out << '"';
  for (const unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out << '\\' << c;
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out << escaped;
    } else {
      out << c;
    }
  }
  out << '"';
}

}  // namespace

void startProfiling(bool withCuda) {
  std::lock_guard<std::mutex> lock(sessionMutex);
  require(!sessionOn.load(), code::kArgument, "profiling is already on: stop the running session first");
  std::set<impl::ActivityType> activities{impl::ActivityType::CPU};
  if (withCuda) activities.insert(impl::ActivityType::CUDA);
  const impl::ProfilerConfig config(impl::ProfilerState::KINETO, /*report_input_shapes=*/true);
  autograd_profiler::prepareProfiler(config, activities);
  autograd_profiler::enableProfiler(config, activities);
  sessionState.emplace();  // captures this thread's profiler callbacks and state
  sessionOn.store(true);
}

std::string stopProfiling() {
  std::lock_guard<std::mutex> lock(sessionMutex);
  require(sessionOn.load(), code::kArgument, "profiling is not on: start a session first");
  sessionOn.store(false);
  sessionState.reset();
  auto result = autograd_profiler::disableProfiler();
  // Written here rather than by the profiler's own save(), which needs a LibTorch built with Kineto.
  std::ostringstream out;
  out << std::fixed << std::setprecision(3);  // µs since the epoch need all their digits
  out << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[";
  bool first = true;
  for (const auto& event : result->events()) {
    const bool onDevice = event.deviceType() != c10::DeviceType::CPU;
    if (!first) out << ',';
    first = false;
    out << "{\"ph\":\"X\",\"cat\":" << (onDevice ? "\"kernel\"" : "\"cpu_op\"") << ",\"name\":";
    writeJsonString(out, event.name());
    out << ",\"ts\":" << startMicros(event, 0) << ",\"dur\":" << durationMicros(event, 0)
        << ",\"pid\":" << (onDevice ? 1 + static_cast<int>(event.deviceIndex()) : 0)
        << ",\"tid\":" << (onDevice ? event.deviceResourceId() : static_cast<int64_t>(event.startThreadId())) << '}';
  }
  out << "]}";
  return out.str();
}

std::optional<at::ThreadLocalState> profilingState() {
  if (!sessionOn.load()) return std::nullopt;
  std::lock_guard<std::mutex> lock(sessionMutex);
  return sessionState;
}

}  // namespace seqsam
