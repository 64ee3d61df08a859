// One assignment problem solved by one warp: the same O(n²m) shortest-augmenting-path method with
// potentials as the CPU solver (native/seqsam/assignment_solver.cc), step for step.
//
// Plain C++ templated on the warp, with no CUDA header: hungarian_cuda.cu instantiates it with the GPU warp
// (one thread per lane, shuffles), and the host tests with a lockstep warp (the 32 lanes as a loop) and a
// fiber warp (lanes interleaved at random between barriers, which finds a missing __syncwarp).
//
// The warp interface (W):
//   W::kLanes                      lanes (32 on the GPU)
//   W::Registers<V, N>             N values per lane; .at(lane, j) (on the GPU each thread holds its own)
//   w.forEach(f)                   f(lane) for each lane: the body of SIMT code
//   w.sync()                       barrier (__syncwarp): shared-memory writes before it are seen after it
//   w.any(f)                       whether f(lane) holds for some lane
//   w.argmin(f)                    the least Candidate (value, then column) over f(lane)
//
// Layout: the problem is made "wide" (n <= m; a tall one is read transposed); lane L owns the columns
// L+1, L+1+kLanes, ... (1-based; column 0 is the virtual start). Per-column state (minimum slack, column
// potential, visited) lives in the owner's registers; row potentials, the matching and the path links in
// shared memory. Each Dijkstra step: one read of a cost row, a warp argmin, a potential update; lane 0
// augments along the path.
//
// Exactness: costs are promoted to double and every value goes through the same operations, in the same
// order, as on the CPU (subtractions and additions only, so no FMA contraction); the argmin keeps the lowest
// column among equal slacks, like the CPU's first-strictly-smaller scan. The result is the CPU's assignment.
#pragma once
#include <climits>
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define SEQSAM_HOST_DEVICE __host__ __device__ __forceinline__
#define SEQSAM_UNROLL _Pragma("unroll")
#else
#define SEQSAM_HOST_DEVICE inline
#define SEQSAM_UNROLL
#endif

namespace seqsam::cuda {

// A column's slack, for the warp argmin: lower value first, then lower column.
struct Candidate {
  double value;
  int column;
};

SEQSAM_HOST_DEVICE bool lessCandidate(const Candidate& a, const Candidate& b) {
  return a.value < b.value || (a.value == b.value && a.column < b.column);
}

// One warp's shared memory for problems of up to kMaxSide per side, 1-based with slot 0 virtual.
template <int kMaxSide>
struct AssignmentScratch {
  double rowPotential[kMaxSide + 1];
  int matchOfColumn[kMaxSide + 1];  // row (1-based) matched to each column, 0: none
  int way[kMaxSide + 1];            // the previous column on the shortest path
};

// Solves one rows x cols problem (row-major at `cost`, max(rows, cols) <= kLanes * kPerLane) into out[rows]:
// the column of each row, -1 where a row stays unmatched; a problem holding NaN or infinity is all -1.
// Every lane calls it with the same arguments; control flow outside forEach is warp-uniform.
template <int kPerLane, class W, typename T>
SEQSAM_HOST_DEVICE void solveAssignmentWarp(const T* cost, int rows, int cols, int64_t* out, const W& warp,
                                            AssignmentScratch<W::kLanes * kPerLane>& s) {
  constexpr int kLanes = W::kLanes;
  const bool tall = rows > cols;
  const int n = tall ? cols : rows;  // rows of the wide problem (n <= m)
  const int m = tall ? rows : cols;  // its columns
  // Element (i, j) of the wide problem, 0-based, is cost[i * rowStride + j * columnStride].
  const int rowStride = tall ? 1 : cols;
  const int columnStride = tall ? cols : 1;
  const double inf = HUGE_VAL;
  auto columnOf = [](int lane, int j) { return lane + 1 + kLanes * j; };

  // The CPU solver refuses NaN and infinity; a kernel cannot throw, so such a problem is all -1.
  const bool bad = warp.any([&](int lane) {
    bool found = false;
    for (int i = lane; i < rows * cols; i += kLanes) {
      const double x = static_cast<double>(cost[i]);
      found |= !(x - x == 0.0);  // NaN and ±infinity give NaN; no isfinite overload to pick per compiler
    }
    return found;
  });
  if (bad) {
    warp.forEach([&](int lane) {
      for (int r = lane; r < rows; r += kLanes) out[r] = -1;
    });
    return;
  }

  typename W::template Registers<double, kPerLane> columnPotential, minSlack;
  typename W::template Registers<bool, kPerLane> used;
  warp.forEach([&](int lane) {
    for (int i = lane; i <= m; i += kLanes) {
      s.rowPotential[i] = 0.0;
      s.matchOfColumn[i] = 0;
      s.way[i] = 0;
    }
SEQSAM_UNROLL
    for (int j = 0; j < kPerLane; ++j) columnPotential.at(lane, j) = 0.0;
  });
  warp.sync();

  for (int row = 1; row <= n; ++row) {
    warp.forEach([&](int lane) {
      if (lane == 0) s.matchOfColumn[0] = row;
SEQSAM_UNROLL
      for (int j = 0; j < kPerLane; ++j) {
        minSlack.at(lane, j) = inf;
        used.at(lane, j) = false;
      }
    });
    int column = 0;
    warp.sync();
    for (;;) {
      // Visit `column`: relax the slacks through its row; each lane proposes its least unvisited column.
      const Candidate best = warp.argmin([&](int lane) {
        Candidate local{inf, INT_MAX};
        const int r = s.matchOfColumn[column];
        const double potential = s.rowPotential[r];
        const T* costRow = cost + static_cast<int64_t>(r - 1) * rowStride;
SEQSAM_UNROLL
        for (int j = 0; j < kPerLane; ++j) {
          const int c = columnOf(lane, j);
          if (c == column) used.at(lane, j) = true;
          if (c <= m && !used.at(lane, j)) {
            const double slack = static_cast<double>(costRow[static_cast<int64_t>(c - 1) * columnStride]) - potential -
                                 columnPotential.at(lane, j);
            if (slack < minSlack.at(lane, j)) {
              minSlack.at(lane, j) = slack;
              s.way[c] = column;
            }
            if (minSlack.at(lane, j) < local.value) local = {minSlack.at(lane, j), c};
          }
        }
        return local;
      });
      if (best.column == INT_MAX) {
        // No unvisited column left: impossible with finite costs and n <= m; never loop on it.
        warp.forEach([&](int lane) {
          for (int r = lane; r < rows; r += kLanes) out[r] = -1;
        });
        return;
      }
      const double delta = best.value;
      warp.sync();  // every lane has read this step's potentials before they change
      warp.forEach([&](int lane) {
        if (lane == 0) s.rowPotential[row] += delta;  // the virtual column 0 is always visited; its row is `row`
SEQSAM_UNROLL
        for (int j = 0; j < kPerLane; ++j) {
          const int c = columnOf(lane, j);
          if (c > m) continue;
          if (used.at(lane, j)) {
            s.rowPotential[s.matchOfColumn[c]] += delta;  // visited columns hold distinct rows: no conflicts
            columnPotential.at(lane, j) -= delta;
          } else {
            minSlack.at(lane, j) -= delta;
          }
        }
      });
      // Read before the barrier: past it, lane 0 may already be rewriting the matching (augmenting).
      const bool reachedFreeColumn = s.matchOfColumn[best.column] == 0;
      warp.sync();
      column = best.column;
      if (reachedFreeColumn) break;
    }
    warp.forEach([&](int lane) {
      if (lane != 0) return;
      do {
        const int previous = s.way[column];
        s.matchOfColumn[column] = s.matchOfColumn[previous];
        column = previous;
      } while (column != 0);
    });
    warp.sync();
  }

  // Every wide row is matched; each lane writes its own columns' entries (each output once).
  warp.forEach([&](int lane) {
SEQSAM_UNROLL
    for (int j = 0; j < kPerLane; ++j) {
      const int c = columnOf(lane, j);
      if (c > m) continue;
      const int r = s.matchOfColumn[c];
      if (!tall) {
        if (r != 0) out[r - 1] = c - 1;
      } else {
        out[c - 1] = r != 0 ? r - 1 : -1;
      }
    }
  });
}

}  // namespace seqsam::cuda
