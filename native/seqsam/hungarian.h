// Exact minimum-cost assignment (the Hungarian method with potentials, O(n²m)).
#pragma once
#include <torch/torch.h>

#include <vector>

namespace seqsam::seq {

// cost: rows x cols, row-major. Returns, for each row, its column (every row is assigned when
// rows <= cols; when rows > cols, every column is assigned and unassigned rows get -1).
// Matches scipy.optimize.linear_sum_assignment's optimum (ties may pick another optimal assignment).
std::vector<int64_t> solveAssignment(const double* cost, int64_t rows, int64_t cols);

// A batch of (B, R, C) costs on any device -> (B, R) int64 column per row on the cost's device.
torch::Tensor batchedAssignment(const torch::Tensor& cost);

}  // namespace seqsam::seq
