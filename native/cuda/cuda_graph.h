// CUDA graphs: a stretch of GPU work recorded once and replayed as one launch, for the calls whose cost is
// thousands of small kernel launches (a training step from cached embeddings, a rollout of M decoder steps).
// The work reads "static" input tensors, which the caller overwrites in place before each replay, and
// returns static output tensors, which each replay overwrites. No CUDA headers here: a CPU-only build
// compiles the same interface, with graphsAvailable() false.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace seqsam::cuda {

// Whether this build can capture CUDA graphs (a CUDA LibTorch, built with SEQSAM_CUDA_GRAPHS on).
bool graphsAvailable();
// Whether callers should use them: available (or emulated) and not turned off by SEQSAM_CUDA_GRAPHS=0.
bool graphsEnabled();
// Tests only: SEQSAM_CUDA_GRAPHS_EMULATE=1 in a build without graphs puts a stand-in in the graph's place on
// any device: it runs the warm-ups, records nothing, and runs the body (host code included) at each replay,
// so that the callers' staging of inputs and outputs can be checked on a machine without a GPU.
bool graphsEmulated();

// What a body run is for: the warm-up runs before capture (lazy initialisation, cuBLAS workspaces), the one
// run that is recorded, or (emulation only) a replay.
enum class GraphPhase { Warmup, Capture, Replay };

// A copy of `t` that a graph reads as its static input (undefined stays undefined).
torch::Tensor staticInput(const torch::Tensor& t);
// Writes `source` into the static input `target` before a replay (nothing for an undefined one).
void writeStaticInput(const torch::Tensor& target, const torch::Tensor& source);

// A key that tells apart the layouts of some tensors (dtype, device, sizes, strides; "-" for undefined).
std::string layoutKey(const std::vector<torch::Tensor>& tensors);

class CapturedGraph {
 public:
  using Body = std::function<std::vector<torch::Tensor>(GraphPhase)>;

  // Runs `body` `warmups` times on a side stream of `device` (waiting for the current stream's work first),
  // then records one more run of it on that stream into a private memory pool; the current stream then
  // waits for the side stream. The host waits for the GPU here (capture is not a hot path). Throws
  // (ERR_TORCH) if the body cannot be captured, e.g. when it copies to the host.
  CapturedGraph(const torch::Device& device, Body body, int warmups = 3);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Launches the recorded work on the current stream, after whatever is queued there (the static inputs'
  // copies). Returns the static outputs: valid until the next replay, so clone what must outlive it. (The
  // capture itself runs nothing: read the outputs after a replay.)
  const std::vector<torch::Tensor>& replay();
  const std::vector<torch::Tensor>& outputs() const { return outputs_; }
  // Whether replay runs the body's host code again (emulation) rather than only its recorded GPU work.
  bool replaysHostCode() const;

 private:
  struct Recording;
  std::unique_ptr<Recording> recording_;
  Body body_;  // kept for emulated replays
  std::vector<torch::Tensor> outputs_;
};

// What a cache of graphs did so far, for tests and diagnostics: graphs recorded, replays, and keys that fell
// back to eager (with the last reason).
struct GraphStats {
  int64_t captures = 0;
  int64_t replays = 0;
  int64_t failures = 0;
  std::string lastFailure;
};

// Captured graphs by key (the inputs' layouts and whatever settings change the recorded work), each with
// the static tensors its caller keeps beside it. The oldest entries go when more than `capacity` are held
// (every graph holds its own memory pool). A key whose capture failed is remembered, so that the caller
// runs it eagerly from then on without trying again.
template <class Statics>
class GraphCache {
 public:
  struct Entry {
    std::string key;
    Statics statics;
    std::unique_ptr<CapturedGraph> graph;
  };

  explicit GraphCache(size_t capacity = 8) : capacity_(capacity) {}

  // The entry for `key`, moved to the front; null when none is held.
  Entry* find(const std::string& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key != key) continue;
      entries_.splice(entries_.begin(), entries_, it);
      return &entries_.front();
    }
    return nullptr;
  }
  Entry& insert(std::string key, Statics statics, std::unique_ptr<CapturedGraph> graph) {
    entries_.push_front(Entry{std::move(key), std::move(statics), std::move(graph)});
    while (entries_.size() > capacity_) entries_.pop_back();
    return entries_.front();
  }
  bool failed(const std::string& key) const {
    for (const auto& k : failed_) {
      if (k == key) return true;
    }
    return false;
  }
  void markFailed(std::string key, std::string why) {
    failed_.push_back(std::move(key));
    ++stats.failures;
    stats.lastFailure = std::move(why);
  }
  // Drops every graph (the weights or settings they were recorded against changed).
  void clear() {
    entries_.clear();
    failed_.clear();
  }
  size_t size() const { return entries_.size(); }

  GraphStats stats;

 private:
  size_t capacity_;
  std::list<Entry> entries_;
  std::vector<std::string> failed_;
};

}  // namespace seqsam::cuda
