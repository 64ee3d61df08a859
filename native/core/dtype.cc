#include "core/dtype.h"

#include <array>

#include "core/errors.h"

namespace seqsam {

namespace {
struct DtypeNames {
  at::ScalarType type;
  const char* js;
  const char* safetensors;
};

constexpr std::array<DtypeNames, 10> kDtypes{{
    {at::kFloat, "float32", "F32"},
    {at::kDouble, "float64", "F64"},
    {at::kHalf, "float16", "F16"},
    {at::kBFloat16, "bfloat16", "BF16"},
    {at::kChar, "int8", "I8"},
    {at::kByte, "uint8", "U8"},
    {at::kShort, "int16", "I16"},
    {at::kInt, "int32", "I32"},
    {at::kLong, "int64", "I64"},
    {at::kBool, "bool", "BOOL"},
}};
}  // namespace

at::ScalarType parseDtype(const std::string& name, const std::string& what) {
  for (const auto& d : kDtypes) {
    if (name == d.js || name == d.safetensors) return d.type;
  }
  fail(code::kArgument, what + ": unsupported dtype '" + name + "'");
}

std::string dtypeName(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return d.js;
  }
  return c10::toString(type);
}

std::string safetensorsDtype(at::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.type == type) return d.safetensors;
  }
  fail(code::kArgument, std::string("dtype ") + c10::toString(type) + " cannot be stored in safetensors");
}

}  // namespace seqsam
