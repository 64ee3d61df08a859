#include "core/cpu_block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

// LibTorch 2.3 made Allocator::allocate non-const.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define SEQSAM_ALLOCATE_CONST
#else
#define SEQSAM_ALLOCATE_CONST const
#endif

namespace seqsam {

namespace {

constexpr size_t kMinCached = size_t{1} << 20;  // below this glibc's bins do well on their own
constexpr size_t kGranule = size_t{64} << 10;   // sizes round up to 64 KiB so near sizes share blocks

class CpuBlockCache final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) SEQSAM_ALLOCATE_CONST override {
    if (bytes < kMinCached) {
      void* data = c10::alloc_cpu(bytes);
      return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t size = (bytes + kGranule - 1) / kGranule * kGranule;
    void* data = take(size);
    if (!data) {
      try {
        data = c10::alloc_cpu(size);
      } catch (const c10::Error&) {
        releaseIdle();  // out of memory: give back what sits idle, then try once more
        data = c10::alloc_cpu(size);
      }
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[data] = size;
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  // One deleter for every block (LibTorch's raw_allocate / raw_deallocate use it too): large blocks go
  // back to the cache, others to the system.
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // LibTorch 2.x declares this pure virtual (no `override`: 1.13 does not have it).
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  void releaseIdle() const {
    std::multimap<size_t, void*> idle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle.swap(idle_);
      for (const auto& [size, data] : idle) sizes_.erase(data);
      idleBytes_ = 0;
    }
    for (const auto& [size, data] : idle) c10::free_cpu(data);
  }

  size_t idleBytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return idleBytes_;
  }

  size_t cap = 0;

 private:
  static void release(void* data);

  void* take(size_t size) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = idle_.lower_bound(size);
    if (it == idle_.end() || it->first > size + size / 8) return nullptr;  // at most 1/8 wasted
    void* data = it->second;
    idleBytes_ -= it->first;
    idle_.erase(it);
    return data;
  }

  void put(void* data) const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = sizes_.find(data);
      if (it != sizes_.end()) {  // a large block: keep it idle while under the cap
        if (idleBytes_ + it->second <= cap) {
          idle_.emplace(it->second, data);
          idleBytes_ += it->second;
          return;
        }
        sizes_.erase(it);
      }
    }
    c10::free_cpu(data);
  }

  mutable std::mutex mutex_;
  mutable std::multimap<size_t, void*> idle_;          // size → idle block
  mutable std::unordered_map<void*, size_t> sizes_;    // every large block this cache made, live or idle
  mutable size_t idleBytes_ = 0;

  friend CpuBlockCache& cache();
};

CpuBlockCache& cache() {
  static CpuBlockCache* instance = new CpuBlockCache();  // never destroyed: tensors may outlive static teardown
  return *instance;
}

void CpuBlockCache::release(void* data) { cache().put(data); }

}  // namespace

void installCpuBlockCache(size_t capBytes) {
  static std::once_flag once;
  std::call_once(once, [capBytes] {
    size_t capacity = capBytes;
    if (const char* mb = std::getenv("SEQSAM_CPU_CACHE_MB")) capacity = static_cast<size_t>(std::strtoull(mb, nullptr, 10)) << 20;
    if (capacity == 0) return;
    cache().cap = capacity;
    c10::SetCPUAllocator(&cache(), /*priority=*/1);
  });
}

void releaseCpuBlockCache() { cache().releaseIdle(); }

size_t cpuBlockCacheIdleBytes() { return cache().idleBytes(); }

}  // namespace seqsam
