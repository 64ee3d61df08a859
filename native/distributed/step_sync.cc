#include "distributed/step_sync.h"

#include <algorithm>
#include <cmath>
#include <mutex>

#include "core/errors.h"

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
  std::lock_guard<std::mutex> lock(mutex);
  synced.emplace_back(activeGroup(), model);
}

namespace {

// The fields every rank must share, as sums of values and of squares: all ranks agree exactly when the
// variance over ranks is 0 (integers well below 2^26, so the doubles are exact).
void checkLayout(const torch::Tensor& sums, const std::vector<double>& local, int worldSize, int rank) {
  static const char* names[] = {"batch size", "label count K", "number of parameters with a gradient", "gradient element count"};
  auto s = sums.accessor<double, 1>();
  const size_t n = local.size();
  for (size_t i = 0; i < n; ++i) {
    const double mean = s[i] / worldSize;
    const double variance = s[n + i] / worldSize - mean * mean;
    require(std::abs(variance) < 0.5, code::kDistributed,
            "rank " + std::to_string(rank) + ": the ranks' " + names[i] + " differ in this step (this rank " + std::to_string(static_cast<int64_t>(local[i])) +
                ", mean over ranks " + std::to_string(mean) + "): every rank must take equal batches of the same data");
  }
}

}  // namespace

torch::Tensor reduceGradients(Group& group, const std::vector<std::pair<std::string, torch::Tensor>>& params, const torch::Tensor& loss,
                              int64_t localBatch, int64_t numLabels, bool meanReduction, int64_t bucketBytes) {
  torch::NoGradGuard noGrad;
  const int world = group.worldSize();
  std::vector<torch::Tensor> grads;
  int64_t numel = 0;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    numel += p.grad().numel();
  }
  // Equal batches (checked next), so a `mean` loss weighs each rank by b / Σb = 1 / N.
  const double scale = meanReduction ? 1.0 / world : 1.0;

  // Layout and loss in one small all-reduce, before the buckets: mismatched ranks would not line up there.
  const std::vector<double> local = {static_cast<double>(localBatch), static_cast<double>(numLabels), static_cast<double>(grads.size()),
                                     static_cast<double>(numel)};
  std::vector<double> values(local);
  for (double v : local) values.push_back(v * v);
  torch::Tensor extras = torch::cat({torch::tensor(values, torch::kDouble).to(group.device()),
                                     (loss.detach().to(group.device(), torch::kDouble) * scale).reshape({1})});
  group.allReduceSum(extras);
  checkLayout(extras.narrow(0, 0, 2 * local.size()).cpu(), local, world, group.rank());
  torch::Tensor groupLoss = extras[2 * local.size()].to(loss.device(), loss.scalar_type());

  // Buckets of one dtype and device each, in parameter order, flushed at about bucketBytes.
  std::vector<torch::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&]() {
    if (bucket.empty()) return;
    std::vector<torch::Tensor> flat;
    for (const auto& g : bucket) flat.push_back(g.reshape({-1}));
    torch::Tensor joined = torch::cat(flat).to(group.device());
    if (scale != 1.0) joined.mul_(scale);
    group.allReduceSum(joined);
    int64_t at = 0;
    for (auto& g : bucket) {
      g.copy_(joined.narrow(0, at, g.numel()).view_as(g));
      at += g.numel();
    }
    bucket.clear();
    bytes = 0;
  };
  for (const auto& g : grads) {
    if (!bucket.empty() && (g.scalar_type() != bucket.front().scalar_type() || g.device() != bucket.front().device())) flush();
    bucket.push_back(g);
    bytes += g.numel() * static_cast<int64_t>(g.element_size());
    if (bytes >= bucketBytes) flush();
  }
  flush();
  return groupLoss;
}

}  // namespace seqsam::dist
