#include "distributed/process_group.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "core/errors.h"

#if SEQSAM_WITH_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if SEQSAM_WITH_CUDA && defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "distributed/peer_watch.h"
#endif

namespace seqsam::dist {

namespace {

std::mutex activeMutex;
std::shared_ptr<Group> active;

}  // namespace

std::shared_ptr<Group> activeGroup() {
  std::lock_guard<std::mutex> lock(activeMutex);
  return active;
}

void setActiveGroup(std::shared_ptr<Group> group) {
  std::lock_guard<std::mutex> lock(activeMutex);
  active = std::move(group);
}

#if !SEQSAM_WITH_C10D

struct PendingCollective::State {};
PendingCollective::PendingCollective(std::shared_ptr<State> state) : state_(std::move(state)) {}
bool PendingCollective::done() const { return true; }
void PendingCollective::wait(std::chrono::steady_clock::time_point) { fail(code::kDistributed, unavailableReason()); }

bool available() { return false; }
std::string unavailableReason() {
  return "this seqsam binary was built without torch.distributed (c10d and Gloo headers were not found at build time; on "
         "Debian install libgloo-dev and rebuild)";
}

struct Group::Impl {};
Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
std::shared_ptr<Group> Group::join(const JoinOptions&) { fail(code::kDistributed, unavailableReason()); }
int Group::rank() const { return 0; }
int Group::worldSize() const { return 1; }
const std::string& Group::backendName() const {
  static const std::string none = "none";
  return none;
}
torch::Device Group::device() const { return torch::kCPU; }
void Group::broadcast(std::vector<torch::Tensor>&, int) { fail(code::kDistributed, unavailableReason()); }
void Group::allReduceSum(torch::Tensor&) { fail(code::kDistributed, unavailableReason()); }
PendingCollective Group::allReduceSumAsync(const torch::Tensor&) { fail(code::kDistributed, unavailableReason()); }
std::chrono::milliseconds Group::timeout() const { return std::chrono::milliseconds(0); }
void Group::barrier() { fail(code::kDistributed, unavailableReason()); }
void Group::agree(const std::string&, const std::string&) { fail(code::kDistributed, unavailableReason()); }
void Group::leave() {}

#else

bool available() { return true; }
std::string unavailableReason() { return ""; }

namespace {

// LibTorch 2 split the backends (ProcessGroupGloo, ProcessGroupNCCL) from the ProcessGroup front.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

std::string worldKey(int rank) { return "seqsam/world/" + std::to_string(rank); }

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

bool isLoopback(const std::string& addr) { return addr == "127.0.0.1" || addr == "localhost" || addr == "::1"; }

// Gloo's sockets bind where the user said (GLOO_SOCKET_IFNAME, as torch), on loopback for a local job, else on
// the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (isLoopback(masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

}  // namespace

struct Group::Impl {
  JoinOptions options;
  std::string storeAddress;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Backend> backend;
  torch::Device device = torch::kCPU;
  std::string backendName;
  std::unique_ptr<PeerWatch> watch;
  int64_t agreements = 0;
  bool left = false;

  std::string who() const { return "rank " + std::to_string(options.rank); }

  // Runs a collective; a failure becomes ERR_DISTRIBUTED naming the rank that stopped, if one did.
  template <typename F>
  void collective(const std::string& what, F&& run) {
    require(!left, code::kDistributed, who() + ": " + what + " after leaving the process group");
    try {
      run();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      const std::string cause = watch ? watch->diagnose() : "";
      fail(code::kDistributed, who() + ": " + what + " failed: " + cause + " [" + firstLine(e.what()) + "]");
    }
  }

  template <typename Work>
  void wait(const Work& work) const {
    work->wait(options.timeout);
  }

  static std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Group::~Group() { leave(); }

std::shared_ptr<Group> Group::join(const JoinOptions& o) {
  require(o.worldSize >= 1, code::kArgument, "distributed: worldSize must be at least 1 (got " + std::to_string(o.worldSize) + ")");
  require(o.rank >= 0 && o.rank < o.worldSize, code::kArgument,
          "distributed: rank " + std::to_string(o.rank) + " is outside the world of " + std::to_string(o.worldSize));
  require(o.masterPort >= 1 && o.masterPort <= 65535, code::kArgument, "distributed: masterPort must be 1..65535");
  require(o.timeout.count() > 0, code::kArgument, "distributed: the timeout must be positive");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->storeAddress = o.masterAddr + ":" + std::to_string(o.masterPort);
  const std::string who = impl->who();

  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<uint16_t>(o.masterPort);
  storeOptions.isServer = o.rank == 0;
  storeOptions.waitWorkers = false;  // our own rendezvous below names the missing rank
  storeOptions.timeout = o.timeout;
  c10d::TCPStoreOptions clientOptions = storeOptions;
  clientOptions.isServer = false;
  c10::intrusive_ptr<c10d::Store> beatStore;
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, storeOptions);
    beatStore = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, clientOptions);
  } catch (const std::exception& e) {
    fail(code::kDistributed, o.rank == 0 ? who + ": cannot host the store at " + impl->storeAddress + " (is the port in use?) [" +
                                               Impl::firstLine(e.what()) + "]"
                                         : who + ": cannot reach the master's store at " + impl->storeAddress + " within " +
                                               std::to_string(o.timeout.count()) + " ms [" + Impl::firstLine(e.what()) + "]");
  }

  // Rendezvous: one process per rank, every rank with the same world size.
  try {
    require(impl->store->add("seqsam/claim/" + std::to_string(o.rank), 1) == 1, code::kDistributed,
            who + ": another process already joined as rank " + std::to_string(o.rank));
    impl->store->set(worldKey(o.rank), bytes(std::to_string(o.worldSize)));
    const auto started = std::chrono::steady_clock::now();
    for (int r = 0; r < o.worldSize; ++r) {
      try {
        impl->store->wait({worldKey(r)}, o.timeout);
      } catch (const std::exception& e) {
        // Before the timeout, the wait failed because the store went: rank 0, its host, stopped (maybe refusing this job).
        require(std::chrono::steady_clock::now() - started < o.timeout, code::kDistributed,
                who + ": rank " + std::to_string(r) + " did not join within " + std::to_string(o.timeout.count()) + " ms (world size " +
                    std::to_string(o.worldSize) + ": a rank that did not start, or ranks started with different world sizes)");
        fail(code::kDistributed, who + ": rank 0 stopped while this rank waited for rank " + std::to_string(r) + " to join (the store at " +
                                     impl->storeAddress + " went away; see rank 0's message) [" + Impl::firstLine(e.what()) + "]");
      }
      const std::string theirs = text(impl->store->get(worldKey(r)));
      require(theirs == std::to_string(o.worldSize), code::kDistributed,
              who + ": rank " + std::to_string(r) + " was started with world size " + theirs + ", this rank with " +
                  std::to_string(o.worldSize));
    }
    require(!impl->store->check({worldKey(o.worldSize)}), code::kDistributed,
            who + ": a rank " + std::to_string(o.worldSize) + " joined, outside the world size " + std::to_string(o.worldSize));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    // Another rank's store connection breaks when rank 0, the store's host, stops (maybe refusing this job).
    if (o.rank != 0) {
      fail(code::kDistributed, who + ": rank 0 stopped while this rank waited to join (the store at " + impl->storeAddress +
                                   " went away; see rank 0's message) [" + Impl::firstLine(e.what()) + "]");
    }
    fail(code::kDistributed, who + ": the rendezvous at " + impl->storeAddress + " failed [" + Impl::firstLine(e.what()) + "]");
  }

  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("seqsam/pg", impl->store);
  try {
    if (o.backend == "nccl") {
#if SEQSAM_WITH_CUDA && defined(USE_C10D_NCCL)
      auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
      ncclOptions->timeout = o.timeout;
      impl->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, o.rank, o.worldSize, ncclOptions);
      impl->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.deviceIndex));
      impl->backendName = "nccl";
#else
      fail(code::kDistributed, who + ": the nccl backend needs a CUDA build of seqsam with NCCL (this one has Gloo: backend 'gloo')");
#endif
    } else {
      require(o.backend == "gloo", code::kArgument, "distributed: backend must be 'gloo' or 'nccl' (got '" + o.backend + "')");
      auto glooOptions = c10d::ProcessGroupGloo::Options::create(o.timeout);
      glooOptions->devices.push_back(glooDevice(o.masterAddr));
      glooOptions->threads = 2;
      impl->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, o.rank, o.worldSize, glooOptions);
      impl->backendName = "gloo";
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(code::kDistributed, who + ": connecting the " + o.backend + " process group failed [" + Impl::firstLine(e.what()) + "]");
  }
  impl->watch = std::make_unique<PeerWatch>(beatStore, impl->store, o.rank, o.worldSize, impl->storeAddress);
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return impl_->options.rank; }
int Group::worldSize() const { return impl_->options.worldSize; }
const std::string& Group::backendName() const { return impl_->backendName; }
torch::Device Group::device() const { return impl_->device; }

void Group::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  impl_->collective("broadcast from rank " + std::to_string(root), [&] {
    torch::NoGradGuard noGrad;
    for (auto& t : tensors) {
      // The backend wants contiguous tensors on its device; others travel there and back.
      const bool direct = t.device() == impl_->device && t.is_contiguous();
      std::vector<torch::Tensor> one{direct ? t : t.to(impl_->device).contiguous()};
      c10d::BroadcastOptions options;
      options.rootRank = root;
      options.timeout = impl_->options.timeout;
      impl_->wait(impl_->backend->broadcast(one, options));
      if (!direct) t.copy_(one[0]);
    }
  });
}

void Group::allReduceSum(torch::Tensor& tensor) {
  impl_->collective("all-reduce", [&] {
    std::vector<torch::Tensor> one{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = impl_->options.timeout;
    impl_->wait(impl_->backend->allreduce(one, options));
  });
}

struct PendingCollective::State {
  Group::Impl* group = nullptr;  // the Group outlives the collectives it starts (the trainer holds it for the step)
  c10::intrusive_ptr<c10d::Work> work;
};

PendingCollective::PendingCollective(std::shared_ptr<State> state) : state_(std::move(state)) {}

bool PendingCollective::done() const { return !state_ || !state_->work || state_->work->isCompleted(); }

void PendingCollective::wait(std::chrono::steady_clock::time_point deadline) {
  require(state_ != nullptr, code::kDistributed, "distributed: waiting for a collective that was never started");
  if (!state_->work) return;  // waited for already
  state_->group->collective("all-reduce", [&] {
    // At least 1 ms: c10d reads a zero timeout as none at all.
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    state_->work->wait(std::max(left, std::chrono::milliseconds(1)));
  });
  state_->work.reset();
}

PendingCollective Group::allReduceSumAsync(const torch::Tensor& tensor) {
  auto state = std::make_shared<PendingCollective::State>();
  state->group = impl_.get();
  impl_->collective("all-reduce", [&] {
    std::vector<torch::Tensor> one{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = impl_->options.timeout;
    state->work = impl_->backend->allreduce(one, options);
  });
  return PendingCollective(std::move(state));
}

std::chrono::milliseconds Group::timeout() const { return impl_->options.timeout; }

void Group::barrier() {
  // A one-element all-reduce: Gloo's and NCCL's barriers differ in what they wait for; this waits for every rank.
  torch::Tensor token = torch::zeros({1}, torch::TensorOptions().device(impl_->device));
  impl_->collective("barrier", [&] {
    std::vector<torch::Tensor> one{token};
    c10d::AllreduceOptions options;
    options.timeout = impl_->options.timeout;
    impl_->wait(impl_->backend->allreduce(one, options));
  });
  if (token.device().is_cuda()) token.cpu();  // the host waits for the device's copy too
}

void Group::agree(const std::string& what, const std::string& digest) {
  Impl& impl = *impl_;
  require(!impl.left, code::kDistributed, impl.who() + ": checking " + what + " after leaving the process group");
  const std::string prefix = "seqsam/agree/" + std::to_string(impl.agreements++) + "/";
  std::string differing;
  try {
    impl.store->set(prefix + std::to_string(rank()), bytes(digest));
    for (int r = 0; r < worldSize(); ++r) {
      impl.store->wait({prefix + std::to_string(r)}, impl.options.timeout);
    }
    const std::string reference = text(impl.store->get(prefix + "0"));
    for (int r = 1; r < worldSize(); ++r) {
      if (text(impl.store->get(prefix + std::to_string(r))) != reference) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
    }
  } catch (const std::exception& e) {
    fail(code::kDistributed, impl.who() + ": comparing " + what + " across ranks failed: " + (impl.watch ? impl.watch->diagnose() : "") + " [" +
                                 Impl::firstLine(e.what()) + "]");
  }
  require(differing.empty(), code::kDistributed,
          impl.who() + ": rank " + differing + " started with a different " + what + " than rank 0 (every rank must run the same job)");
}

void Group::leave() {
  if (!impl_ || impl_->left) return;
  impl_->left = true;
  if (impl_->watch) impl_->watch->stop();
  impl_->watch.reset();
  impl_->backend.reset();
  impl_->store.reset();
}

#endif  // SEQSAM_WITH_C10D

}  // namespace seqsam::dist
