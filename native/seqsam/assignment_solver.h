// Exact minimum-cost assignment (the Hungarian method with potentials, O(n²m)). No LibTorch here: the GPU
// kernel's host tests link this file alone as their reference.
#pragma once
#include <cstdint>
#include <vector>

namespace seqsam::seq {

// cost: rows x cols, row-major. Returns, for each row, its column (every row is assigned when
// rows <= cols; when rows > cols, every column is assigned and unassigned rows get -1).
// Matches scipy.optimize.linear_sum_assignment's optimum (ties may pick another optimal assignment).
// Throws seqsam::Error (ERR_ARGUMENT) on NaN or infinity.
std::vector<int64_t> solveAssignment(const double* cost, int64_t rows, int64_t cols);

}  // namespace seqsam::seq
