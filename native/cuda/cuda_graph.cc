#include "cuda/cuda_graph.h"

#include <ATen/record_function.h>

#include <sstream>

#include "core/env_switch.h"
#include "core/errors.h"
#include "core/precision.h"

// SEQSAM_CUDA_GRAPHS (CMake option, default on) lets a build whose LibTorch's graph API does not fit this
// code be made without it: callers then run eagerly.
#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA && defined(SEQSAM_CUDA_GRAPHS) && SEQSAM_CUDA_GRAPHS
#define SEQSAM_GRAPHS_BUILT 1
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#else
#define SEQSAM_GRAPHS_BUILT 0
#endif

namespace seqsam::cuda {

bool graphsAvailable() { return SEQSAM_GRAPHS_BUILT != 0; }

bool graphsEmulated() { return !graphsAvailable() && envIs("SEQSAM_CUDA_GRAPHS_EMULATE", "1"); }

bool graphsEnabled() { return (graphsAvailable() || graphsEmulated()) && !envIs("SEQSAM_CUDA_GRAPHS", "0"); }

torch::Tensor staticInput(const torch::Tensor& t) { return t.defined() ? t.detach().clone() : torch::Tensor(); }

void writeStaticInput(const torch::Tensor& target, const torch::Tensor& source) {
  if (target.defined()) target.copy_(source, /*non_blocking=*/true);
}

std::string layoutKey(const std::vector<torch::Tensor>& tensors) {
  std::ostringstream key;
  for (const auto& t : tensors) {
    if (!t.defined()) {
      key << "-;";
      continue;
    }
    key << c10::toString(t.scalar_type()) << '@' << t.device() << '[' << c10::Join(",", t.sizes()) << "]/[" << c10::Join(",", t.strides())
        << "];";
  }
  return key.str();
}

#if SEQSAM_GRAPHS_BUILT

struct CapturedGraph::Recording {
  at::cuda::CUDAGraph graph;
};

namespace {

// Autocast caches the casts of trainable weights until its outermost scope closes. A scope the body opens
// itself closes inside the body, so its cache lives and dies within the capture: each weight's cast is
// recorded once and reused by the body's later steps, as in an eager call (without the cache a bf16
// rollout of M steps records M casts of every decoder weight). A scope already open around the capture
// would keep casts made in the graph's pool beyond it: then the cache is off while warming up and
// capturing, as torch.cuda.make_graphed_callables requires of a caller's autocast.
class AutocastCacheGuard {
 public:
  AutocastCacheGuard() : off_(autocastEnabled(c10::DeviceType::CUDA)), previous_(at::autocast::is_autocast_cache_enabled()) {
    if (off_) at::autocast::set_autocast_cache_enabled(false);
  }
  ~AutocastCacheGuard() {
    if (off_) at::autocast::set_autocast_cache_enabled(previous_);
  }

 private:
  bool off_;
  bool previous_;
};

// After a body that threw mid-capture: ends the stream's capture if it is still on (discarding the partial
// graph) and clears the error, so that the stream, and the process, can go on.
void abandonCapture(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
    cudaGraph_t partial = nullptr;
    cudaStreamEndCapture(stream, &partial);
    if (partial != nullptr) cudaGraphDestroy(partial);
  }
  cudaGetLastError();  // the capture's error is reported through the exception, not left sticky
}

}  // namespace

CapturedGraph::CapturedGraph(const torch::Device& device, Body body, int warmups) : body_(std::move(body)) {
  require(device.is_cuda(), code::kDevice, "CUDA graphs: " + device.str() + " is not a CUDA device");
  const c10::cuda::CUDAGuard deviceGuard(device);
  const c10::cuda::CUDAStream ambient = c10::cuda::getCurrentCUDAStream(device.index());
  // Capture needs a stream other than the default one; a side stream also keeps the warm-up's allocations
  // apart from the caller's.
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  recording_ = std::make_unique<Recording>();
  {
    at::cuda::CUDAEvent inputsReady;
    inputsReady.record(ambient);
    inputsReady.block(side);
    const c10::cuda::CUDAStreamGuard streamGuard(side);
    const AutocastCacheGuard autocastCache;
    for (int i = 0; i < warmups; ++i) body_(GraphPhase::Warmup);
    side.synchronize();  // the warm-up's frees settle before capture starts
    bool capturing = false;
    try {
      recording_->graph.capture_begin();
      capturing = true;
      outputs_ = body_(GraphPhase::Capture);
      capturing = false;
      recording_->graph.capture_end();
    } catch (const std::exception& e) {
      if (capturing) {
        // A capture still valid ends as usual (LibTorch then stops routing allocations to its pool); one
        // that a CUDA error invalidated is ended by hand.
        try {
          recording_->graph.capture_end();
        } catch (const std::exception&) {
        }
        abandonCapture(side.stream());
      }
      outputs_.clear();
      recording_.reset();
      fail(code::kTorch, std::string("CUDA graph capture failed: ") + e.what());
    }
  }
  at::cuda::CUDAEvent captured;
  captured.record(side);
  captured.block(ambient);
}

CapturedGraph::~CapturedGraph() = default;

const std::vector<torch::Tensor>& CapturedGraph::replay() {
  RECORD_USER_SCOPE("seqsam::graph_replay");
  recording_->graph.replay();  // on the current stream
  return outputs_;
}

bool CapturedGraph::replaysHostCode() const { return false; }

#else  // no graphs in this build: the emulation for tests, or nothing

struct CapturedGraph::Recording {};

// As a real capture changes no tensor (it records the work without running it), the stand-in runs only the
// warm-ups here; each replay then runs the body.
CapturedGraph::CapturedGraph(const torch::Device& device, Body body, int warmups) : body_(std::move(body)) {
  require(graphsEmulated(), code::kDevice, "CUDA graphs are not available in this build (" + device.str() + ")");
  for (int i = 0; i < warmups; ++i) body_(GraphPhase::Warmup);
}

CapturedGraph::~CapturedGraph() = default;

const std::vector<torch::Tensor>& CapturedGraph::replay() {
  RECORD_USER_SCOPE("seqsam::graph_replay");
  outputs_ = body_(GraphPhase::Replay);
  return outputs_;
}

bool CapturedGraph::replaysHostCode() const { return true; }

#endif

}  // namespace seqsam::cuda
