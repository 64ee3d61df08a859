// One process's membership in a torch.distributed (c10d) process group: a TCPStore rendezvous at the
// master, ProcessGroupGloo for CPU tensors (ProcessGroupNCCL for CUDA ones in a CUDA build), and the
// collectives data-parallel training needs, each bounded by the group's timeout. A failed collective is
// reported as ERR_DISTRIBUTED naming the rank that stopped (see peer_watch.h).
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace seqsam::dist {

// A collective started by Group::allReduceSumAsync, running on the backend's threads meanwhile. wait()
// returns once it is done, or throws ERR_DISTRIBUTED (naming the rank that stopped, if one did) when it
// failed or was not done by `deadline`.
class PendingCollective {
 public:
  struct State;
  explicit PendingCollective(std::shared_ptr<State> state);
  // Whether it has ended (well or not); wait() tells which.
  bool done() const;
  void wait(std::chrono::steady_clock::time_point deadline);

 private:
  std::shared_ptr<State> state_;
};

struct JoinOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  std::chrono::milliseconds timeout{60000};
  // "gloo" (CPU tensors) or "nccl" (CUDA tensors on device `deviceIndex`; CUDA builds only).
  std::string backend = "gloo";
  int deviceIndex = 0;
};

// Whether this build has c10d (its headers and Gloo's were found at build time), and why not.
bool available();
std::string unavailableReason();

class Group {
 public:
  // Joins (rank 0 hosts the store) and checks that every rank agrees on the world size; throws
  // ERR_DISTRIBUTED naming the rank at fault, within the timeout.
  static std::shared_ptr<Group> join(const JoinOptions& options);
  ~Group();

  int rank() const;
  int worldSize() const;
  const std::string& backendName() const;
  // Where collectives want their tensors (CPU for Gloo, the rank's GPU for NCCL).
  torch::Device device() const;

  // In place, on any device: every rank ends with `root`'s values.
  void broadcast(std::vector<torch::Tensor>& tensors, int root);
  // In place: every rank ends with the sum over ranks.
  void allReduceSum(torch::Tensor& tensor);
  // The same, started and left running: `tensor` (contiguous, on device()) holds the sum once the
  // collective is waited for. Every rank must start the same collectives in the same order.
  PendingCollective allReduceSumAsync(const torch::Tensor& tensor);
  // How long a collective may take (JoinOptions::timeout).
  std::chrono::milliseconds timeout() const;
  void barrier();
  // Refuses to go on unless every rank passed the same `digest` for `what` (ERR_DISTRIBUTED naming the ranks
  // that differ from rank 0).
  void agree(const std::string& what, const std::string& digest);
  // Stops the heartbeat and drops the connections (a later collective fails with ERR_DISTRIBUTED).
  void leave();

  struct Impl;

 private:
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The group the native training step averages gradients over (null when the process trains alone).
std::shared_ptr<Group> activeGroup();
void setActiveGroup(std::shared_ptr<Group> group);

}  // namespace seqsam::dist
