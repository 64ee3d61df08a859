// The dtype names JS and safetensors use, mapped to LibTorch's scalar types.
#pragma once
#include <torch/torch.h>

#include <string>

namespace seqsam {

// "float32", "F32", "bfloat16", ... -> ScalarType; throws ERR_ARGUMENT naming `what` otherwise.
at::ScalarType parseDtype(const std::string& name, const std::string& what);
// Canonical JS name: "float32", "int64", "bool", ...
std::string dtypeName(at::ScalarType type);
// safetensors' name: "F32", "I64", "BOOL", ...
std::string safetensorsDtype(at::ScalarType type);

}  // namespace seqsam
