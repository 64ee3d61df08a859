// fork() while native work runs. OpenBLAS (its pthread build, Debian's libopenblas0-pthread) registers a fork
// handler that stops and joins its worker threads before every fork(); when another thread is inside a
// threaded matmul at that moment, its worker never finishes the job, and the fork and the matmul both hang
// (Node's child_process.spawn forks, so any spawn during a native call could hang the process). The guard's
// handler, registered after OpenBLAS's and so run before it (POSIX runs prepare handlers in reverse order),
// holds a fork until no native computation is running, and keeps new ones from starting until it is done:
// a spawn during a native call waits for that call to end. With OpenBLAS at one thread
// (runtime.setThreads({ blas: 1 })) or another BLAS, forks are not held.
#pragma once

namespace seqsam {

// Registers the fork handlers; once per process, after the BLAS library is loaded.
void installForkGuard();

// A native computation in progress (an async call's work, a synchronous call): forks wait for it to end.
class ComputeScope {
 public:
  ComputeScope();
  ~ComputeScope();
  ComputeScope(const ComputeScope&) = delete;
  ComputeScope& operator=(const ComputeScope&) = delete;
};

}  // namespace seqsam
