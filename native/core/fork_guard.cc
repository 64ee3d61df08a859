#include "core/fork_guard.h"

#include <dlfcn.h>
#include <pthread.h>

#include <condition_variable>
#include <mutex>

namespace seqsam {

namespace {

std::mutex mutex;
std::condition_variable idle;
int running = 0;  // guarded by mutex

using BlasGetThreads = int (*)();
BlasGetThreads openblasThreads = nullptr;

void beforeFork() {
  std::unique_lock<std::mutex> lock(mutex);
  // With one OpenBLAS thread no matmul waits on a worker: nothing to hold the fork for.
  if (openblasThreads() > 1) idle.wait(lock, [] { return running == 0; });
  lock.release();  // held through the fork: no computation starts until it is done
}

void afterForkInParent() { mutex.unlock(); }

// The child has only the forking thread, which holds the mutex: nothing runs there.
void afterForkInChild() {
  running = 0;
  mutex.unlock();
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
  std::lock_guard<std::mutex> lock(mutex);
  ++running;
}

ComputeScope::~ComputeScope() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    --running;
  }
  idle.notify_all();
}

}  // namespace seqsam
