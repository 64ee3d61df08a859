// Which rank stopped: every rank bumps a counter in the store twice a second from a thread of its own; after
// a collective fails, counters that no longer move name the ranks that died (a process killed with SIGKILL
// cannot say so itself). A store that cannot be reached means rank 0, its host, is gone.
#pragma once
#if SEQSAM_WITH_C10D
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace seqsam::dist {

class PeerWatch {
 public:
  // `beatStore` is used by the heartbeat thread alone; `queryStore` by diagnose() (the caller's thread).
  PeerWatch(c10::intrusive_ptr<c10d::Store> beatStore, c10::intrusive_ptr<c10d::Store> queryStore, int rank, int worldSize,
            std::string storeAddress);
  ~PeerWatch();
  void stop();

  // A sentence naming the ranks whose heartbeat stopped (waits about three beats to tell).
  std::string diagnose();

  static constexpr std::chrono::milliseconds kBeat{500};

 private:
  void run();

  c10::intrusive_ptr<c10d::Store> beatStore_, queryStore_;
  int rank_, worldSize_;
  std::string storeAddress_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace seqsam::dist
#endif  // SEQSAM_WITH_C10D
