// Batched exact assignment on the GPU: one warp per problem (see hungarian_solver.cuh for the method).
// No LibTorch and no ATen here: `nvcc -std=c++17 -c hungarian_cuda.cu` compiles it alone.
#include "hungarian_cuda.h"

#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "hungarian_solver.cuh"

namespace seqsam::cuda {

namespace {

constexpr int kWarpsPerBlock = 4;

// The solver's warp on the GPU: each thread is one lane and holds only its own registers.
struct GpuWarp {
  static constexpr int kLanes = 32;
  static constexpr unsigned kAll = 0xffffffffu;
  int lane;

  template <typename V, int N>
  struct Registers {
    V v[N];
    __device__ __forceinline__ V& at(int, int j) { return v[j]; }
  };

  template <class F>
  __device__ __forceinline__ void forEach(F&& f) const {
    f(lane);
  }
  __device__ __forceinline__ void sync() const { __syncwarp(kAll); }
  template <class F>
  __device__ __forceinline__ bool any(F&& f) const {
    return __any_sync(kAll, f(lane)) != 0;
  }
  template <class F>
  __device__ __forceinline__ Candidate argmin(F&& f) const {
    Candidate best = f(lane);
    // Butterfly: every lane ends with the least (value, column); the order is total, so any tree agrees.
#pragma unroll
    for (int offset = kLanes / 2; offset > 0; offset /= 2) {
      const Candidate other{__shfl_xor_sync(kAll, best.value, offset), __shfl_xor_sync(kAll, best.column, offset)};
      if (lessCandidate(other, best)) best = other;
    }
    return best;
  }
};

template <int kPerLane, typename T>
__global__ void __launch_bounds__(GpuWarp::kLanes * kWarpsPerBlock)
    assignmentKernel(const T* __restrict__ cost, int64_t batch, int rows, int cols, int64_t* __restrict__ out) {
  __shared__ AssignmentScratch<GpuWarp::kLanes * kPerLane> scratch[kWarpsPerBlock];
  const int warpInBlock = static_cast<int>(threadIdx.x) / GpuWarp::kLanes;
  const int64_t problem = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warpInBlock;
  if (problem >= batch) return;  // whole warps only: the rest of the block never waits on this one
  const GpuWarp warp{static_cast<int>(threadIdx.x) % GpuWarp::kLanes};
  solveAssignmentWarp<kPerLane>(cost + problem * rows * cols, rows, cols, out + problem * rows, warp, scratch[warpInBlock]);
}

template <int kPerLane, typename T>
const char* launch(const T* cost, int64_t batch, int rows, int cols, int64_t* out, cudaStream_t stream) {
  const int64_t blocks = (batch + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > INT_MAX) return "assignment: too many problems for one launch";
  assignmentKernel<kPerLane, T><<<static_cast<unsigned>(blocks), GpuWarp::kLanes * kWarpsPerBlock, 0, stream>>>(cost, batch, rows, cols, out);
  const cudaError_t status = cudaGetLastError();
  return status == cudaSuccess ? nullptr : cudaGetErrorString(status);
}

template <typename T>
const char* launchTyped(const T* cost, int64_t batch, int rows, int cols, int64_t* out, cudaStream_t stream) {
  const int side = rows > cols ? rows : cols;
  if (side <= 32) return launch<1>(cost, batch, rows, cols, out, stream);
  if (side <= 64) return launch<2>(cost, batch, rows, cols, out, stream);
  if (side <= 128) return launch<4>(cost, batch, rows, cols, out, stream);
  return launch<8>(cost, batch, rows, cols, out, stream);
}

}  // namespace

const char* launchBatchedAssignment(const void* cost, CostType type, int64_t batch, int64_t rows, int64_t cols,
                                    int64_t* columnOfRow, void* stream) {
  if (batch < 0 || rows < 0 || cols < 0) return "assignment: negative size";
  if (rows > kMaxAssignmentSide || cols > kMaxAssignmentSide) return "assignment: a side is longer than the kernel takes";
  if (batch == 0 || rows == 0) return nullptr;  // nothing to write
  const auto s = static_cast<cudaStream_t>(stream);
  const int r = static_cast<int>(rows), c = static_cast<int>(cols);
  return type == CostType::Float64 ? launchTyped(static_cast<const double*>(cost), batch, r, c, columnOfRow, s)
                                   : launchTyped(static_cast<const float*>(cost), batch, r, c, columnOfRow, s);
}

}  // namespace seqsam::cuda
