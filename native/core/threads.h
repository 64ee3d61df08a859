// The intra-op thread count asked for from JS. LibTorch's OpenMP backend keeps that count per thread,
// and native work runs on libuv's worker threads, so each task applies it to its own thread first.
#pragma once

namespace seqsam {

void setConfiguredThreads(int threads);
// The CPUs this process may run on (its affinity mask, as taskset or a container's cpuset set it), which
// can be fewer than the machine's: the default intra-op thread count.
int usableCpus();
// Applies the configured count to the calling thread when it differs.
void applyConfiguredThreads();

}  // namespace seqsam
