// Batched exact minimum-cost assignment on any device (the solver itself: seqsam/assignment_solver.h).
#pragma once
#include <torch/torch.h>

#include "seqsam/assignment_solver.h"

namespace seqsam::seq {

// A batch of (B, R, C) costs on any device -> (B, R) int64 column per row on the cost's device. CUDA costs
// go to the batched GPU kernel (no host round trip); CPU costs to solveAssignment, one problem at a time.
torch::Tensor batchedAssignment(const torch::Tensor& cost);

}  // namespace seqsam::seq
