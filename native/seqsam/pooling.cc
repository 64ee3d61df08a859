#include "seqsam/pooling.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"

namespace seqsam::seq {

Pooling parsePooling(const std::string& name) {
  if (name == "strided") return Pooling::Strided;
  if (name == "reference-strided") return Pooling::ReferenceStrided;
  if (name == "random") return Pooling::Random;
  if (name == "first-k") return Pooling::FirstK;
  if (name == "all") return Pooling::All;
  fail(code::kArgument, "pooling must be 'strided', 'reference-strided', 'random', 'first-k' or 'all' (got '" + name + "')");
}

namespace {

int64_t uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // [lo, hi)
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo));
}

std::vector<int64_t> picksFor(int64_t m, int64_t k, Pooling pooling, std::mt19937_64& rng) {
  std::vector<int64_t> picks;
  switch (pooling) {
    case Pooling::Strided:
      // Chunk i is [floor(i·M/K), floor((i+1)·M/K)): K non-empty chunks whenever M >= K.
      for (int64_t i = 0; i < k; ++i) picks.push_back(uniform(rng, i * m / k, (i + 1) * m / k));
      break;
    case Pooling::ReferenceStrided: {
      int64_t chunk = (m + k - 1) / k;
      for (int64_t start = 0; start < m; start += chunk) picks.push_back(uniform(rng, start, std::min(m, start + chunk)));
      break;
    }
    case Pooling::Random: {
      std::vector<int64_t> all(m);
      std::iota(all.begin(), all.end(), 0);
      for (int64_t i = 0; i < k; ++i) std::swap(all[i], all[uniform(rng, i, m)]);
      picks.assign(all.begin(), all.begin() + k);
      break;
    }
    case Pooling::FirstK:
      for (int64_t i = 0; i < k; ++i) picks.push_back(i);
      break;
    case Pooling::All:
      for (int64_t i = 0; i < m; ++i) picks.push_back(i);
      break;
  }
  return picks;
}

}  // namespace

torch::Tensor drawPicks(int64_t batch, int64_t numSteps, int64_t numLabels, Pooling pooling, std::mt19937_64& rng) {
  require(numLabels >= 1, code::kShape, "pooling: at least one label is needed");
  require(numSteps >= numLabels || pooling == Pooling::All, code::kArgument,
          "pooling: " + std::to_string(numSteps) + " steps cannot cover " + std::to_string(numLabels) + " labels (use numMasks >= K)");
  std::vector<int64_t> flat;
  int64_t width = -1;
  for (int64_t b = 0; b < batch; ++b) {
    auto row = picksFor(numSteps, numLabels, pooling, rng);
    width = static_cast<int64_t>(row.size());
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return torch::tensor(flat, torch::kLong).view({batch, width});
}

}  // namespace seqsam::seq
