// The environment switches of the native code (SEQSAM_ATTENTION, SEQSAM_GELU_EPILOGUE, SEQSAM_CUDA_GRAPHS, …):
// read at each call rather than once, so tests and benchmarks can flip them within one process.
#pragma once

namespace seqsam {

// Whether environment variable `name` is set to exactly `value`.
bool envIs(const char* name, const char* value);

}  // namespace seqsam
