#include "core/fork_guard.h"

#include <dlfcn.h>
#include <pthread.h>

#include <condition_variable>
#include <mutex>

namespace seqsam {

namespace {

std::mutex forkMutex;
std::condition_variable computeIdle;
int computeRunning = 0;  // guarded by forkMutex

using BlasGetThreads = int (*)();
BlasGetThreads openblasThreads = nullptr;

void beforeFork() {
  std::unique_lock<std::mutex> lock(forkMutex);
  // With one OpenBLAS thread no matmul waits on a worker: nothing to hold the fork for.
  if (openblasThreads() > 1) computeIdle.wait(lock, [] { return computeRunning == 0; });
  lock.release();  // held through the fork: no computation starts until it is done
}

void afterForkInParent() { forkMutex.unlock(); }

// The child has only the forking thread, which holds the mutex: nothing runs there.
void afterForkInChild() {
  computeRunning = 0;
  forkMutex.unlock();
}

}  // namespace

void installForkGuard() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Only OpenBLAS's threads are at risk: with another BLAS (or none) forks go on as they are.
    openblasThreads = reinterpret_cast<BlasGetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (openblasThreads) pthread_atfork(beforeFork, afterForkInParent, afterForkInChild);
  });
}

ComputeScope::ComputeScope() {
  std::lock_guard<std::mutex> lock(forkMutex);
  ++computeRunning;
}

ComputeScope::~ComputeScope() {
  {
    std::lock_guard<std::mutex> lock(forkMutex);
    --computeRunning;
  }
  computeIdle.notify_all();
}

}  // namespace seqsam
