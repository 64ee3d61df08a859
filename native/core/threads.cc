#include "core/threads.h"

#include <torch/torch.h>

#include <atomic>

namespace seqsam {

namespace {
std::atomic<int> configured{0};
}  // namespace

void setConfiguredThreads(int threads) {
  configured.store(threads);
  at::set_num_threads(threads);
}

void applyConfiguredThreads() {
  int wanted = configured.load();
  if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

}  // namespace seqsam
