// LibTorch's profiler around any stretch of seqsam calls: started on the JS thread, it follows each async
// call onto the worker thread that runs it (the profiler records per thread), and ends as a Chrome trace
// (chrome://tracing, Perfetto) of every op on the CPU and, with CUDA, every kernel on the GPU.
#pragma once
#include <ATen/ThreadLocalState.h>

#include <optional>
#include <string>

namespace seqsam {

// Starts recording; refuses a second session.
void startProfiling(bool withCuda);

// Stops recording and returns the trace as Chrome trace-event JSON.
std::string stopProfiling();

// The recording thread's state while a session is on, for a worker thread to adopt; nullopt otherwise.
std::optional<at::ThreadLocalState> profilingState();

}  // namespace seqsam
