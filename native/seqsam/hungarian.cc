#include "seqsam/hungarian.h"

#include "core/errors.h"
#if SEQSAM_WITH_CUDA
#include "cuda/hungarian_dispatch.h"
#endif

namespace seqsam::seq {

torch::Tensor batchedAssignment(const torch::Tensor& cost) {
  require(cost.dim() == 3, code::kShape, "assignment: cost must be (B, rows, cols), got [" + c10::Join(", ", cost.sizes()) + "]");
#if SEQSAM_WITH_CUDA
  // CUDA costs are solved on the device by the batched kernel (sides up to 256), with no host round trip.
  if (cost.is_cuda()) {
    if (torch::Tensor out = seqsam::cuda::batchedAssignmentOnDevice(cost); out.defined()) return out;
  }
#endif
  // One host copy for the whole batch (the matrices are tiny: M x K).
  torch::Tensor host = cost.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t batch = host.size(0), rows = host.size(1), cols = host.size(2);
  torch::Tensor out = torch::empty({batch, rows}, torch::kLong);
  const double* data = host.data_ptr<double>();
  int64_t* result = out.data_ptr<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    auto assignment = solveAssignment(data + b * rows * cols, rows, cols);
    std::copy(assignment.begin(), assignment.end(), result + b * rows);
  }
  return out.to(cost.device());
}

}  // namespace seqsam::seq
