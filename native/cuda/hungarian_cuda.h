// Batched exact assignment on the GPU: the interface the rest of the addon sees. No CUDA (or LibTorch)
// headers here, so C++ translation units include it freely and the .cu compiles on its own with `nvcc -c`.
#pragma once
#include <cstdint>

namespace seqsam::cuda {

// The kernel takes problems whose longer side is at most this (one warp per problem, up to 8 columns a lane).
inline constexpr int64_t kMaxAssignmentSide = 256;

enum class CostType { Float32, Float64 };

// Solves `batch` problems of rows x cols, stored contiguously (batch, rows, cols) in device memory, into
// `columnOfRow`: (batch, rows) int64 in device memory — the column matched to each row, -1 where a row stays
// unmatched (rows > cols). The same contract and the same arithmetic as seqsam::seq::solveAssignment (costs
// promoted to double, the same shortest-augmenting-path steps and tie breaks), so it returns the CPU
// solver's assignment. A problem holding NaN or infinity gets -1 in every row (the kernel cannot throw).
// Requires max(rows, cols) <= kMaxAssignmentSide. `stream` is a cudaStream_t (nullptr: the legacy default
// stream). Asynchronous: returns once launched. Returns nullptr, or a static message when the launch failed.
const char* launchBatchedAssignment(const void* cost, CostType type, int64_t batch, int64_t rows, int64_t cols,
                                    int64_t* columnOfRow, void* stream);

}  // namespace seqsam::cuda
