#include "cuda/hungarian_dispatch.h"

#if defined(SEQSAM_WITH_CUDA) && SEQSAM_WITH_CUDA

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <string>

#include "core/errors.h"
#include "cuda/hungarian_cuda.h"

namespace seqsam::cuda {

torch::Tensor batchedAssignmentOnDevice(const torch::Tensor& cost) {
  const int64_t batch = cost.size(0), rows = cost.size(1), cols = cost.size(2);
  if (rows > kMaxAssignmentSide || cols > kMaxAssignmentSide) return {};
  const c10::cuda::CUDAGuard guard(cost.device());
  // The CPU solver works on the costs promoted to double. float32 and float64 go to the kernel as they are
  // (it promotes them itself); float16/bfloat16 widen to float32 exactly; anything else goes to float64.
  torch::Tensor input = cost.detach();
  const auto type = input.scalar_type();
  if (type == torch::kHalf || type == torch::kBFloat16) {
    input = input.to(torch::kFloat);
  } else if (type != torch::kFloat && type != torch::kDouble) {
    input = input.to(torch::kDouble);
  }
  input = input.contiguous();
  torch::Tensor out = torch::empty({batch, rows}, input.options().dtype(torch::kLong));
  if (out.numel() == 0) return out;
  const char* error = launchBatchedAssignment(
      input.data_ptr(), input.scalar_type() == torch::kDouble ? CostType::Float64 : CostType::Float32, batch, rows, cols,
      out.data_ptr<int64_t>(), c10::cuda::getCurrentCUDAStream(cost.device().index()).stream());
  require(error == nullptr, code::kTorch, std::string("assignment: the CUDA kernel did not launch: ") + (error ? error : ""));
  return out;
}

}  // namespace seqsam::cuda

#endif  // SEQSAM_WITH_CUDA
