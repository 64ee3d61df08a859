#include "seqsam/assignment_solver.h"

#include <cmath>
#include <limits>

#include "core/errors.h"

namespace seqsam::seq {

namespace {

// Square-or-wide case (n <= m): shortest augmenting paths with row/column potentials.
std::vector<int64_t> solveWide(const double* cost, int64_t n, int64_t m) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
  std::vector<int64_t> matchOfColumn(m + 1, 0), way(m + 1, 0);  // 1-based; column 0 is the virtual start
  for (int64_t row = 1; row <= n; ++row) {
    matchOfColumn[0] = row;
    int64_t column = 0;
    std::vector<double> minSlack(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[column] = 1;
      int64_t r = matchOfColumn[column];
      double delta = inf;
      int64_t next = 0;
      for (int64_t c = 1; c <= m; ++c) {
        if (used[c]) continue;
        double slack = cost[(r - 1) * m + (c - 1)] - u[r] - v[c];
        if (slack < minSlack[c]) {
          minSlack[c] = slack;
          way[c] = column;
        }
        if (minSlack[c] < delta) {
          delta = minSlack[c];
          next = c;
        }
      }
      for (int64_t c = 0; c <= m; ++c) {
        if (used[c]) {
          u[matchOfColumn[c]] += delta;
          v[c] -= delta;
        } else {
          minSlack[c] -= delta;
        }
      }
      column = next;
    } while (matchOfColumn[column] != 0);
    do {
      int64_t previous = way[column];
      matchOfColumn[column] = matchOfColumn[previous];
      column = previous;
    } while (column != 0);
  }
  std::vector<int64_t> columnOfRow(n, -1);
  for (int64_t c = 1; c <= m; ++c) {
    if (matchOfColumn[c] != 0) columnOfRow[matchOfColumn[c] - 1] = c - 1;
  }
  return columnOfRow;
}

}  // namespace

std::vector<int64_t> solveAssignment(const double* cost, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows * cols; ++i) {
    require(std::isfinite(cost[i]), code::kArgument, "assignment: the cost matrix holds NaN or infinity");
  }
  if (rows <= cols) return solveWide(cost, rows, cols);
  // Tall: solve the transpose, then invert the matching.
  std::vector<double> transposed(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) transposed[c * rows + r] = cost[r * cols + c];
  }
  std::vector<int64_t> rowOfColumn = solveWide(transposed.data(), cols, rows);
  std::vector<int64_t> columnOfRow(rows, -1);
  for (int64_t c = 0; c < cols; ++c) columnOfRow[rowOfColumn[c]] = c;
  return columnOfRow;
}

}  // namespace seqsam::seq
