// The intra-op thread count asked for from JS. LibTorch's OpenMP backend keeps that count per thread,
// and native work runs on libuv's worker threads, so each task applies it to its own thread first.
#pragma once

namespace seqsam {

void setConfiguredThreads(int threads);
// Applies the configured count to the calling thread when it differs.
void applyConfiguredThreads();

}  // namespace seqsam
