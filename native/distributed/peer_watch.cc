#include "distributed/peer_watch.h"

#if SEQSAM_WITH_C10D
#include <vector>

namespace seqsam::dist {

namespace {

std::string beatKey(int rank) { return "seqsam/beat/" + std::to_string(rank); }

}  // namespace

PeerWatch::PeerWatch(c10::intrusive_ptr<c10d::Store> beatStore, c10::intrusive_ptr<c10d::Store> queryStore, int rank, int worldSize,
                     std::string storeAddress)
    : beatStore_(std::move(beatStore)), queryStore_(std::move(queryStore)), rank_(rank), worldSize_(worldSize),
      storeAddress_(std::move(storeAddress)) {
  thread_ = std::thread([this] { run(); });
}

PeerWatch::~PeerWatch() { stop(); }

void PeerWatch::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeerWatch::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      beatStore_->add(beatKey(rank_), 1);
    } catch (const std::exception&) {
      // The store's host is gone; diagnose() says so. Nothing more to beat to.
      return;
    }
    lock.lock();
    wake_.wait_for(lock, kBeat, [this] { return stopping_; });
  }
}

std::string PeerWatch::diagnose() {
  auto read = [&]() {
    std::vector<int64_t> counts(worldSize_);
    for (int r = 0; r < worldSize_; ++r) counts[r] = queryStore_->add(beatKey(r), 0);
    return counts;
  };
  try {
    const auto before = read();
    std::this_thread::sleep_for(kBeat * 3);
    const auto after = read();
    std::string lost;
    for (int r = 0; r < worldSize_; ++r) {
      if (r != rank_ && after[r] == before[r]) lost += (lost.empty() ? "" : ", ") + std::to_string(r);
    }
    if (lost.empty()) return "every rank is still alive (a rank raised an error of its own, or the collective timed out)";
    return "rank " + lost + " stopped (no heartbeat for " + std::to_string((kBeat * 3).count()) + " ms: killed or exited)";
  } catch (const std::exception&) {
    return "rank 0 stopped (the store it hosts at " + storeAddress_ + " cannot be reached)";
  }
}

}  // namespace seqsam::dist
#endif  // SEQSAM_WITH_C10D
