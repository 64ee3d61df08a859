#include "distributed/gradient_buckets.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <unordered_set>

#include "core/errors.h"

namespace seqsam::dist {

using Clock = std::chrono::steady_clock;

bool overlapFromEnv() {
  const char* value = std::getenv("SEQSAM_DDP_OVERLAP");
  if (value == nullptr || *value == '\0') return true;
  require(std::strcmp(value, "0") == 0 || std::strcmp(value, "1") == 0, code::kArgument,
          std::string("SEQSAM_DDP_OVERLAP must be 0 (reduce the gradients after backward) or 1 (overlap, the default); got '") + value + "'");
  return value[0] == '1';
}

BucketSizes bucketSizesFromEnv() {
  BucketSizes sizes;
  const char* value = std::getenv("SEQSAM_DDP_BUCKET_BYTES");
  if (value == nullptr || *value == '\0') return sizes;
  char* end = nullptr;
  const long long bytes = std::strtoll(value, &end, 10);
  require(*end == '\0' && bytes >= 1, code::kArgument, std::string("SEQSAM_DDP_BUCKET_BYTES must be a positive integer (bytes); got '") + value + "'");
  sizes.rest = bytes;
  sizes.first = std::min<int64_t>(sizes.first, bytes);
  return sizes;
}

struct GradientBuckets::Slot {
  std::string name;
  torch::Tensor param;
  std::shared_ptr<torch::autograd::Node> accumulator;  // held: a parameter keeps only a weak reference to it
  uintptr_t hook = 0;
  size_t bucket = 0;
  bool settled = false;  // its gradient is final for this step (or it gets none)
  torch::Tensor grad;    // the gradient the bucket's all-reduce was built from
};

struct GradientBuckets::Bucket {
  std::vector<size_t> slots;
  int64_t numel = 0;
  torch::ScalarType dtype = torch::kFloat;
  torch::Device device = torch::kCPU;
  size_t unsettled = 0;
  torch::Tensor flat;  // the gradients, then the count of parameters without one and its square
  std::optional<PendingCollective> pending;
};

namespace {

// Tells the buckets that a parameter's gradient is final: autograd calls an accumulator's post hooks once
// it has added the step's gradient to the parameter's .grad.
class GradientReadyHook : public torch::autograd::FunctionPostHook {
 public:
  explicit GradientReadyHook(std::function<void()> ready) : ready_(std::move(ready)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) override {
    ready_();
    return outputs;
  }

 private:
  std::function<void()> ready_;
};

// The nodes reachable from `root` in the autograd graph: an accumulator outside it gets no gradient in this
// backward, and must not hold its bucket back.
std::unordered_set<const torch::autograd::Node*> reachableNodes(const std::shared_ptr<torch::autograd::Node>& root) {
  std::unordered_set<const torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack;
  if (root) stack.push_back(root.get());
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (!seen.insert(node).second) continue;
    for (const auto& edge : node->next_edges()) {
      if (edge.function) stack.push_back(edge.function.get());
    }
  }
  return seen;
}

// Host numbers onto `device` without the host waiting for the device (pinned, then an asynchronous copy): the
// step runs without host waits up to the optimizer step.
torch::Tensor upload(const std::vector<double>& values, const torch::Device& device, torch::ScalarType dtype) {
  torch::Tensor host = torch::tensor(values, torch::kDouble);
  if (device.is_cuda()) host = host.pin_memory();
  return host.to(device, dtype, /*non_blocking=*/true);
}

// Whether integers held by every rank are all equal, from their sum s1 and sum of squares s2 over n ranks:
// n·s2 − s1² = Σ_{i<j} (x_i − x_j)², an integer that is 0 exactly when they are. The sums must be exact:
// the layout's numbers travel as two parts below 2^20 each (squares below 2^40, sums of them over up to 2^12
// ranks below 2^52, exact in double); a bucket's count of parameters without a gradient travels as float32
// (the gradients' type: exact while n·count² < 2^24, a count up to 1024 for 16 ranks).
bool ranksAgree(double s1, double s2, int n) { return n * s2 - s1 * s1 < 0.5; }

constexpr double kLayoutPart = 1 << 20;

}  // namespace

GradientBuckets::GradientBuckets(Group& group, const std::vector<std::pair<std::string, torch::Tensor>>& params, const torch::Tensor& loss,
                                 int64_t localBatch, int64_t numLabels, bool meanReduction, bool overlap, BucketSizes sizes)
    : group_(group), scale_(meanReduction ? 1.0 / group.worldSize() : 1.0), overlap_(overlap), loss_(loss) {
  torch::NoGradGuard noGrad;
  report_.overlap = overlap;
  int64_t numel = 0;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    Slot slot;
    slot.name = name;
    slot.param = p;
    slots_.push_back(std::move(slot));
    numel += p.numel();
  }

  // What every rank knows before backward, with its squares, and the loss on the gradients' scale: one
  // small all-reduce, started now, waited for after backward.
  layout_ = {static_cast<double>(localBatch), static_cast<double>(numLabels), static_cast<double>(slots_.size()), static_cast<double>(numel)};
  std::vector<double> values;
  for (double v : layout_) values.push_back(std::fmod(v, kLayoutPart));
  for (double v : layout_) values.push_back(std::floor(v / kLayoutPart));
  const size_t fields = values.size();
  for (size_t i = 0; i < fields; ++i) values.push_back(values[i] * values[i]);
  layoutSums_ = torch::cat({upload(values, group_.device(), torch::kDouble),
                            (loss.detach().to(group_.device(), torch::kDouble) * scale_).reshape({1})});
  layoutPending_.emplace(group_.allReduceSumAsync(layoutSums_));

  // Buckets in reverse parameter order, one dtype and device each, the first one small.
  for (size_t i = slots_.size(); i-- > 0;) {
    const torch::Tensor& p = slots_[i].param;
    bool fits = false;
    if (!buckets_.empty()) {
      const Bucket& last = buckets_.back();
      const int64_t limit = buckets_.size() == 1 ? sizes.first : sizes.rest;
      fits = last.dtype == p.scalar_type() && last.device == p.device() && last.numel * static_cast<int64_t>(p.element_size()) < limit;
    }
    if (!fits) {
      Bucket bucket;
      bucket.dtype = p.scalar_type();
      bucket.device = p.device();
      buckets_.push_back(std::move(bucket));
    }
    slots_[i].bucket = buckets_.size() - 1;
    buckets_.back().slots.push_back(i);
    buckets_.back().numel += p.numel();
  }
  report_.buckets = static_cast<int64_t>(buckets_.size());

  if (!overlap_) return;
  // Accumulators the loss does not reach get no gradient: settled from the start.
  const auto reachable = reachableNodes(loss.grad_fn());
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    slot.accumulator = torch::autograd::impl::grad_accumulator(slot.param);
    if (!slot.accumulator || reachable.count(slot.accumulator.get()) == 0) {
      slot.settled = true;
      continue;
    }
    ++buckets_[slot.bucket].unsettled;
    ++unsettled_;
    slot.hook = slot.accumulator->add_post_hook(std::make_unique<GradientReadyHook>([this, i] { settle(i); }));
  }
}

GradientBuckets::~GradientBuckets() {
  for (Slot& slot : slots_) {
    if (slot.accumulator && slot.hook) slot.accumulator->del_post_hook(slot.hook);
  }
}

void GradientBuckets::settle(size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[index];
  if (slot.settled || hookError_) return;
  slot.settled = true;
  --buckets_[slot.bucket].unsettled;
  --unsettled_;
  // An error here must not tear through autograd: finish() reports it.
  try {
    launchReady();
  } catch (...) {
    hookError_ = std::current_exception();
  }
}

// Buckets start only once the ranks' layouts are known to agree: ranks with other parameters would line up
// buckets of other sizes. The small all-reduce started before backward; with a CPU group, reading it costs
// nothing, and waiting for it costs nothing either (the first bucket could not be summed before the slowest
// rank got there anyway). With a CUDA one, reading it would make the host wait for the device during
// backward: there the buckets start unchecked, as DistributedDataParallel's, and the check comes after backward.
void GradientBuckets::checkLayoutInBackward() {
  if (layoutChecked_ || group_.device().is_cuda()) return;
  layoutPending_->wait(Clock::now() + group_.timeout());
  checkLayout();
}

void GradientBuckets::launchReady() {
  while (next_ < buckets_.size() && buckets_[next_].unsettled == 0) {
    Bucket& bucket = buckets_[next_];
    // A bucket on another device than the group's is copied there, which would make the host wait during
    // backward: it starts after backward.
    if (bucket.device != group_.device()) return;
    checkLayoutInBackward();
    launch(bucket);
    if (unsettled_ > 0) ++report_.launchedDuringBackward;
    ++next_;
  }
}

void GradientBuckets::launch(Bucket& bucket) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> parts;
  int64_t missing = 0;
  for (size_t i : bucket.slots) {
    Slot& slot = slots_[i];
    slot.grad = slot.param.grad();
    if (slot.grad.defined()) {
      parts.push_back(slot.grad.reshape({-1}));
    } else {
      ++missing;
      parts.push_back(torch::zeros({slot.param.numel()}, torch::TensorOptions().dtype(bucket.dtype).device(bucket.device)));
    }
  }
  const double m = static_cast<double>(missing);
  parts.push_back(upload({m, m * m}, bucket.device, bucket.dtype));
  bucket.flat = torch::cat(parts).to(group_.device());
  if (scale_ != 1.0) bucket.flat.narrow(0, 0, bucket.numel).mul_(scale_);
  bucket.pending.emplace(group_.allReduceSumAsync(bucket.flat));
}

void GradientBuckets::checkLayout() {
  static const char* names[] = {"batch size", "label count K", "number of trainable parameters", "trainable element count"};
  const int n = group_.worldSize();
  torch::Tensor sums = layoutSums_.cpu();
  auto s = sums.accessor<double, 1>();
  const size_t count = layout_.size(), fields = 2 * count;  // low parts, then high parts, then their squares
  for (size_t i = 0; i < count; ++i) {
    const bool agree = ranksAgree(s[i], s[fields + i], n) && ranksAgree(s[count + i], s[fields + count + i], n);
    if (agree) continue;
    std::ostringstream mean;
    mean << (s[count + i] * kLayoutPart + s[i]) / n;
    fail(code::kDistributed, "rank " + std::to_string(group_.rank()) + ": the ranks' " + names[i] + " differ in this step (this rank " +
                                 std::to_string(static_cast<int64_t>(layout_[i])) + ", mean over ranks " + mean.str() +
                                 "): every rank must train the same model on equal batches of the same data");
  }
  layoutChecked_ = true;
}

void GradientBuckets::checkGradientSets(const torch::Tensor& counts) {
  auto c = counts.accessor<double, 2>();
  const int n = group_.worldSize();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    if (ranksAgree(c[b][0], c[b][1], n)) continue;
    std::string without;
    int64_t missing = 0;
    for (size_t i : buckets_[b].slots) {
      if (slots_[i].grad.defined()) continue;
      if (++missing <= 3) without += (missing > 1 ? ", " : "") + slots_[i].name;
    }
    if (missing > 3) without += ", …";
    std::ostringstream mean;
    mean << c[b][0] / n;
    fail(code::kDistributed, "rank " + std::to_string(group_.rank()) + ": the ranks' gradients cover different parameters in this step (bucket " +
                                 std::to_string(b + 1) + " of " + std::to_string(buckets_.size()) + ": " + std::to_string(missing) + " of its " +
                                 std::to_string(buckets_[b].slots.size()) + " parameters without a gradient on this rank" +
                                 (without.empty() ? "" : " (" + without + ")") + ", " + mean.str() +
                                 " on average over the ranks): every rank must run the same model, objective and kind of prompts");
  }
}

torch::Tensor GradientBuckets::finish() {
  RECORD_USER_SCOPE("seqsam::gradient_sync");
  const auto started = Clock::now();
  const auto deadline = started + group_.timeout();
  torch::NoGradGuard noGrad;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (Slot& slot : slots_) {
      if (slot.accumulator && slot.hook) slot.accumulator->del_post_hook(slot.hook);
      slot.hook = 0;
    }
  }
  if (hookError_) std::rethrow_exception(hookError_);

  // The layout first: with it known to agree, every rank starts the same buckets.
  layoutPending_->wait(deadline);
  if (!layoutChecked_) checkLayout();
  for (Slot& slot : slots_) slot.settled = true;
  for (Bucket& bucket : buckets_) bucket.unsettled = 0;
  unsettled_ = 0;
  while (next_ < buckets_.size()) {
    Bucket& bucket = buckets_[next_++];
    launch(bucket);
    // Without overlap, one bucket at a time (as before the hooks).
    if (!overlap_) bucket.pending->wait(deadline);
  }
  std::vector<torch::Tensor> counts;
  for (Bucket& bucket : buckets_) {
    bucket.pending->wait(deadline);
    counts.push_back(bucket.flat.narrow(0, bucket.numel, 2).to(torch::kDouble));
  }
  if (!counts.empty()) checkGradientSets(torch::stack(counts).cpu());

  for (Bucket& bucket : buckets_) {
    int64_t at = 0;
    for (size_t i : bucket.slots) {
      Slot& slot = slots_[i];
      const int64_t numel = slot.param.numel();
      if (slot.grad.defined()) slot.grad.copy_(bucket.flat.narrow(0, at, numel).view_as(slot.grad));
      at += numel;
    }
  }
  torch::Tensor groupLoss = layoutSums_[4 * static_cast<int64_t>(layout_.size())].to(loss_.device(), loss_.scalar_type());
  report_.exposedMs = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return groupLoss;
}

}  // namespace seqsam::dist
