// The gradient all-reduce of a data-parallel step, overlapped with the backward pass as DistributedDataParallel's
// Reducer does it: the trainable parameters are split into buckets in reverse order (about the order backward
// produces their gradients), a small one first, and a hook on each parameter's gradient accumulator starts a
// bucket's all-reduce as soon as that bucket and every one before it are complete, so the backend sums the
// late layers' gradients while autograd still computes the early ones. Buckets start strictly in order: every
// rank issues the same collectives in the same sequence. What is known before backward (batch size, label
// count, the trainable parameters, the loss) goes out in one small all-reduce first; each bucket carries two
// more numbers that tell whether the ranks' gradient sets differ in it.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "distributed/process_group.h"

namespace seqsam::dist {

// What one step's gradient sync did (for benchmarks and tests).
struct GradientSyncReport {
  bool overlap = false;            // buckets could start from the hooks, during backward
  int64_t buckets = 0;
  int64_t launchedDuringBackward = 0;  // buckets whose all-reduce started while gradients were still to come
  double exposedMs = 0;            // from backward's return until the summed gradients were in place
};

struct BucketSizes {
  int64_t first = int64_t{1} << 20;  // small, so that the first all-reduce starts early in backward
  int64_t rest = int64_t{25} << 20;
};

// SEQSAM_DDP_OVERLAP=0 turns the overlap off: every bucket is reduced after backward, one at a time.
bool overlapFromEnv();
// SEQSAM_DDP_BUCKET_BYTES sets the buckets' size (and caps the first one's); default 25 MiB after 1 MiB.
BucketSizes bucketSizesFromEnv();

class GradientBuckets {
 public:
  // Call after the forward pass, before backward: starts the all-reduce of the step's layout and loss, and
  // with `overlap` hooks every trainable parameter's gradient accumulator. A `mean` loss weighs each rank's
  // gradients by b / Σb = 1 / N (the layout check makes the batches equal), a `sum` loss by 1.
  GradientBuckets(Group& group, const std::vector<std::pair<std::string, torch::Tensor>>& params, const torch::Tensor& loss, int64_t localBatch,
                  int64_t numLabels, bool meanReduction, bool overlap = overlapFromEnv(), BucketSizes sizes = bucketSizesFromEnv());
  // Removes the hooks (a step that failed leaves none behind).
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // After backward: starts the buckets not yet started, waits for all within the group's timeout, puts the
  // group's gradients in place (parameters without a gradient stay without one) and returns the group's loss
  // (0-d, on the loss's device). ERR_DISTRIBUTED when the ranks' layouts or gradient sets differ, or a rank
  // stopped (naming it).
  torch::Tensor finish();

  const GradientSyncReport& report() const { return report_; }

  struct Slot;
  struct Bucket;

 private:
  void settle(size_t slot);
  void checkLayoutInBackward();
  void launchReady();
  void launch(Bucket& bucket);
  void checkLayout();
  void checkGradientSets(const torch::Tensor& counts);

  Group& group_;
  double scale_ = 1;
  bool overlap_ = false;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<double> layout_;
  torch::Tensor layoutSums_;  // layout_ in two parts each, their squares, then the scaled loss
  std::optional<PendingCollective> layoutPending_;
  bool layoutChecked_ = false;
  torch::Tensor loss_;
  std::mutex mutex_;  // the hooks run on autograd's threads
  size_t next_ = 0;   // the first bucket not started
  size_t unsettled_ = 0;  // hooked parameters whose gradient is still to come
  std::exception_ptr hookError_;
  GradientSyncReport report_;
};

}  // namespace seqsam::dist
