// The GPU assignment solver (native/cuda/hungarian_solver.cuh) run on the host against the CPU solver
// (native/seqsam/assignment_solver.cc), with two warps standing in for the GPU's:
//   lockstep: the 32 lanes as a loop, fast: every problem of the big random set goes through it;
//   fibers:   32 ucontext fibers interleaved in a fresh random order between barriers, so a shared-memory
//             read missing its __syncwarp sees another lane's write in some run; lanes that reach different
//             barriers are reported as divergence.
// Usage: hungarian_emulation [problems] [fiberProblems] [seed]. Prints one line of counts; exit 0 when every
// result equals the CPU solver's assignment.
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "cuda/hungarian_solver.cuh"
#include "seqsam/assignment_solver.h"

using seqsam::cuda::AssignmentScratch;
using seqsam::cuda::Candidate;
using seqsam::cuda::lessCandidate;

namespace {

constexpr int kLanes = 32;

// ---- the lockstep warp: forEach runs the lanes one after another; barriers are no-ops.
struct LockstepWarp {
  static constexpr int kLanes = ::kLanes;
  template <typename V, int N>
  struct Registers {
    V v[kLanes][N];
    V& at(int lane, int j) { return v[lane][j]; }
  };
  template <class F>
  void forEach(F&& f) const {
    for (int lane = 0; lane < kLanes; ++lane) f(lane);
  }
  void sync() const {}
  template <class F>
  bool any(F&& f) const {
    bool result = false;
    for (int lane = 0; lane < kLanes; ++lane) result |= f(lane);
    return result;
  }
  template <class F>
  Candidate argmin(F&& f) const {
    Candidate best = f(0);
    for (int lane = 1; lane < kLanes; ++lane) {
      const Candidate other = f(lane);
      if (lessCandidate(other, best)) best = other;
    }
    return best;
  }
};

// ---- the fiber warp: each lane a fiber with its own registers; shared memory is really shared.
struct Scheduler {
  ucontext_t main{};
  ucontext_t lane[kLanes]{};
  std::vector<char> stack[kLanes];
  int state[kLanes]{};  // 0 runnable, 1 at a barrier, 2 finished
  void* site[kLanes]{};
  Candidate candidates[kLanes]{};
  bool votes[kLanes]{};
  std::function<void(int)> task;
  int starting = 0;
  std::mt19937 rng{12345};
};

Scheduler* current = nullptr;

void trampoline() {
  const int lane = current->starting;
  current->task(lane);
  current->state[lane] = 2;
}

void runFibers(Scheduler& s, std::function<void(int)> task) {
  current = &s;
  s.task = std::move(task);
  for (int l = 0; l < kLanes; ++l) {
    s.stack[l].resize(256 * 1024);
    getcontext(&s.lane[l]);
    s.lane[l].uc_stack.ss_sp = s.stack[l].data();
    s.lane[l].uc_stack.ss_size = s.stack[l].size();
    s.lane[l].uc_link = &s.main;
    makecontext(&s.lane[l], trampoline, 0);
    s.state[l] = 0;
  }
  std::vector<int> order(kLanes);
  std::iota(order.begin(), order.end(), 0);
  for (bool first = true;; first = false) {
    std::shuffle(order.begin(), order.end(), s.rng);
    for (int l : order) {
      if (s.state[l] == 2) continue;
      s.state[l] = 0;
      if (first) s.starting = l;
      swapcontext(&s.main, &s.lane[l]);
    }
    int atBarrier = 0, finished = 0;
    for (int l = 0; l < kLanes; ++l) (s.state[l] == 1 ? atBarrier : finished)++;
    if (finished == kLanes) return;
    if (finished != 0) {
      std::fprintf(stderr, "DIVERGENCE: %d lanes finished while %d wait at a barrier\n", finished, atBarrier);
      std::exit(2);
    }
    for (int l = 1; l < kLanes; ++l) {
      if (s.site[l] != s.site[0]) {
        std::fprintf(stderr, "DIVERGENCE: lanes 0 and %d wait at different barriers\n", l);
        std::exit(2);
      }
    }
  }
}

struct FiberWarp {
  static constexpr int kLanes = ::kLanes;
  int lane;
  template <typename V, int N>
  struct Registers {
    V v[N];
    V& at(int, int j) { return v[j]; }
  };
  template <class F>
  void forEach(F&& f) const {
    f(lane);
  }
  // Not inlined: its return address names the barrier's call site, which every lane must share.
  __attribute__((noinline)) void sync() const {
    current->site[lane] = __builtin_return_address(0);
    current->state[lane] = 1;
    swapcontext(&current->lane[lane], &current->main);
  }
  template <class F>
  bool any(F&& f) const {
    current->votes[lane] = f(lane);
    sync();
    bool result = false;
    for (int l = 0; l < kLanes; ++l) result |= current->votes[l];
    sync();
    return result;
  }
  template <class F>
  Candidate argmin(F&& f) const {
    current->candidates[lane] = f(lane);
    sync();
    Candidate best = current->candidates[0];
    for (int l = 1; l < kLanes; ++l) {
      if (lessCandidate(current->candidates[l], best)) best = current->candidates[l];
    }
    sync();
    return best;
  }
};

// ---- problems: continuous, small integers (ties), all equal, equal rows, equal columns, a 1/16 grid
// (Dice-like ties), and a wide spread of magnitudes.
template <typename T>
void fill(T* m, int rows, int cols, int kind, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int i = 0; i < rows * cols; ++i) {
    const double x = unit(rng);
    double v = x;
    if (kind == 1) v = std::floor(x * 3);
    if (kind == 2) v = 0.25;
    if (kind == 5) v = std::round(x * 16) / 16;
    if (kind == 6) v = (x - 0.5) * 1e6;
    m[i] = static_cast<T>(v);
  }
  if (kind == 3) {
    for (int r = 1; r < rows; ++r) std::copy(m, m + cols, m + static_cast<size_t>(r) * cols);
  }
  if (kind == 4) {
    for (int r = 0; r < rows; ++r) std::fill(m + static_cast<size_t>(r) * cols + 1, m + static_cast<size_t>(r + 1) * cols, m[r * cols]);
  }
}

template <int kPerLane, class W, typename T>
void solveWith(const W& warp, const T* cost, int rows, int cols, int64_t* out) {
  static AssignmentScratch<kLanes * kPerLane> scratch;  // the warp's shared memory
  seqsam::cuda::solveAssignmentWarp<kPerLane>(cost, rows, cols, out, warp, scratch);
}

// The kernel's choice of registers per lane (hungarian_cuda.cu, launchTyped).
template <class W, typename T>
void solve(const W& warp, const T* cost, int rows, int cols, int64_t* out) {
  const int side = std::max(rows, cols);
  if (side <= 32) return solveWith<1>(warp, cost, rows, cols, out);
  if (side <= 64) return solveWith<2>(warp, cost, rows, cols, out);
  if (side <= 128) return solveWith<4>(warp, cost, rows, cols, out);
  return solveWith<8>(warp, cost, rows, cols, out);
}

struct Counts {
  long problems = 0, ties = 0, mismatches = 0;
};

template <typename T>
bool matchesCpu(const T* cost, int rows, int cols, const std::vector<int64_t>& got) {
  std::vector<double> asDouble(cost, cost + rows * cols);
  const auto expected = seqsam::seq::solveAssignment(asDouble.data(), rows, cols);
  return std::equal(expected.begin(), expected.end(), got.begin());
}

template <typename T>
void checkOne(bool fibers, int rows, int cols, int kind, std::mt19937_64& rng, Counts& counts) {
  std::vector<T> cost(static_cast<size_t>(rows) * cols);
  fill(cost.data(), rows, cols, kind, rng);
  std::vector<int64_t> out(rows, -7);  // -7: never written
  if (fibers) {
    Scheduler scheduler;
    scheduler.rng.seed(static_cast<unsigned>(rng()));
    runFibers(scheduler, [&](int lane) { solve(FiberWarp{lane}, cost.data(), rows, cols, out.data()); });
  } else {
    solve(LockstepWarp{}, cost.data(), rows, cols, out.data());
  }
  ++counts.problems;
  if (kind >= 1 && kind <= 5) ++counts.ties;
  if (!matchesCpu(cost.data(), rows, cols, out)) {
    if (++counts.mismatches <= 10) {
      std::fprintf(stderr, "MISMATCH %s %s %dx%d kind %d\n", fibers ? "fibers" : "lockstep", sizeof(T) == 4 ? "f32" : "f64", rows, cols, kind);
    }
  }
}

// Random shapes: mostly M x K with K <= M <= 64 (the training case), some wide, float32 and float64.
void checkRandom(bool fibers, long problems, std::mt19937_64& rng, Counts& counts) {
  for (long i = 0; i < problems; ++i) {
    const int big = static_cast<int>(rng() % 8) == 0 ? 64 : 12;  // one in eight up to 64 a side
    int rows = 1 + static_cast<int>(rng() % big), cols = 1 + static_cast<int>(rng() % rows);
    if (rng() % 5 == 0) std::swap(rows, cols);
    const int kind = static_cast<int>(rng() % 7);
    if (rng() % 4 == 0) {
      checkOne<double>(fibers, rows, cols, kind, rng, counts);
    } else {
      checkOne<float>(fibers, rows, cols, kind, rng, counts);
    }
  }
}

// Non-finite costs: all -1 (where the CPU solver throws), and degenerate shapes.
bool checkEdges() {
  bool ok = true;
  const float nan[4] = {1, NAN, 3, 4}, inf[4] = {INFINITY, 0, 0, 0};
  for (const float* cost : {nan, inf}) {
    std::vector<int64_t> out(2, -7);
    solve(LockstepWarp{}, cost, 2, 2, out.data());
    ok &= out == std::vector<int64_t>({-1, -1});
  }
  std::vector<int64_t> out(5, -7);
  solve(LockstepWarp{}, static_cast<const float*>(nullptr), 5, 0, out.data());
  ok &= out == std::vector<int64_t>(5, -1);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const long problems = argc > 1 ? std::atol(argv[1]) : 100000;
  const long fiberProblems = argc > 2 ? std::atol(argv[2]) : 1500;
  std::mt19937_64 rng(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 7);
  Counts lockstep, fibers;
  checkRandom(false, problems, rng, lockstep);
  // The sides the kernel takes beyond 64 (4 and 8 registers per lane), once each way.
  for (auto [rows, cols] : {std::pair{100, 37}, {37, 100}, {128, 128}, {200, 256}, {256, 3}}) {
    checkOne<float>(false, rows, cols, 1, rng, lockstep);
    checkOne<double>(false, rows, cols, 0, rng, lockstep);
  }
  checkRandom(true, fiberProblems, rng, fibers);
  checkOne<float>(true, 64, 64, 5, rng, fibers);
  checkOne<float>(true, 100, 40, 1, rng, fibers);
  const bool edges = checkEdges();
  std::printf("{\"lockstep\":{\"problems\":%ld,\"withTies\":%ld,\"mismatches\":%ld},"
              "\"fibers\":{\"problems\":%ld,\"withTies\":%ld,\"mismatches\":%ld},\"edgeCases\":%s}\n",
              lockstep.problems, lockstep.ties, lockstep.mismatches, fibers.problems, fibers.ties, fibers.mismatches,
              edges ? "true" : "false");
  return lockstep.mismatches == 0 && fibers.mismatches == 0 && edges ? 0 : 1;
}
