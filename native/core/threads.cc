#include "core/threads.h"

#include <torch/torch.h>

#include <sched.h>

#include <atomic>
#include <thread>

namespace seqsam {

namespace {
std::atomic<int> configured{0};
}  // namespace

void setConfiguredThreads(int threads) {
  configured.store(threads);
  at::set_num_threads(threads);
}

int usableCpus() {
#ifdef __linux__
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0 && CPU_COUNT(&mask) > 0) return CPU_COUNT(&mask);
#endif
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

void applyConfiguredThreads() {
  int wanted = configured.load();
  if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

}  // namespace seqsam
