#include "distributed/step_sync.h"

#include <algorithm>
#include <mutex>

namespace seqsam::dist {

torch::Tensor StepWindow::rows(const torch::Tensor& drawn, int64_t localBatch) const {
  if (!group) return drawn;
  return drawn.narrow(0, offset, localBatch).contiguous();
}

StepWindow stepWindow(int64_t localBatch, bool inGroup) {
  StepWindow window;
  if (inGroup) window.group = activeGroup();
  window.globalBatch = localBatch;
  if (window.group) {
    window.globalBatch = localBatch * window.group->worldSize();
    window.offset = localBatch * window.group->rank();
  }
  return window;
}

void broadcastModelOnce(Group& group, const std::shared_ptr<torch::nn::Module>& model) {
  // Which (group, model) pairs are in step already; weak so neither is kept alive by it.
  static std::mutex mutex;
  static std::vector<std::pair<std::weak_ptr<Group>, std::weak_ptr<torch::nn::Module>>> synced;
  {
    std::lock_guard<std::mutex> lock(mutex);
    synced.erase(std::remove_if(synced.begin(), synced.end(), [](const auto& entry) { return entry.first.expired() || entry.second.expired(); }),
                 synced.end());
    for (const auto& [g, m] : synced) {
      if (g.lock().get() == &group && m.lock() == model) return;
    }
  }
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : model->parameters()) tensors.push_back(p.detach());
  for (const auto& b : model->buffers()) tensors.push_back(b.detach());
  group.broadcast(tensors, 0);
  // The broadcast writes the weights' memory directly: bump their version counters as any in-place op
  // does, so that copies keyed on them (the encoder's held bf16 weights) see the change.
  for (const auto& t : tensors) t.unsafeGetTensorImpl()->bump_version();
  std::lock_guard<std::mutex> lock(mutex);
  synced.emplace_back(activeGroup(), model);
}

}  // namespace seqsam::dist
