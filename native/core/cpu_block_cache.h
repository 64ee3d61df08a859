// A caching layer over LibTorch's CPU allocator for large blocks. A training step frees and allocates the
// same large tensors every time; straight from glibc, a worker thread's arena hands those pages back to
// the kernel and faults them in again on the next step (measured: 1.4M page faults, a third of the run in
// the kernel, steps of 5-10 s instead of 4.5-5 s). Freed blocks of 1 MiB and more are kept for reuse,
// up to a cap; smaller ones, and everything past the cap, go back to the system as before.
#pragma once
#include <cstddef>

namespace seqsam {

// Installs the cache as LibTorch's CPU allocator (once; later calls do nothing). `capBytes` bounds what
// is kept idle; 0 leaves LibTorch's allocator in place. SEQSAM_CPU_CACHE_MB overrides the cap.
void installCpuBlockCache(size_t capBytes);

// Hands every idle block back to the system.
void releaseCpuBlockCache();

// Bytes held idle for reuse now.
size_t cpuBlockCacheIdleBytes();

}  // namespace seqsam
