#include "core/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "core/env_switch.h"
#include "core/errors.h"

// LibTorch 2.4 made autocast's state per device type (the CPU/GPU-specific calls are deprecated there).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SEQSAM_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define SEQSAM_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace seqsam {

Precision parsePrecision(const std::string& name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  if (name == "tf32") return Precision::Tf32;
  fail(code::kArgument, "precision must be 'fp32', 'bf16' or 'tf32' (got '" + name + "')");
}

const char* precisionName(Precision precision) {
  switch (precision) {
    case Precision::Bf16:
      return "bf16";
    case Precision::Tf32:
      return "tf32";
    case Precision::Fp32:
      break;
  }
  return "fp32";
}

bool holdBf16Weights() {
  return !envIs("SEQSAM_BF16_WEIGHTS", "autocast");
}

bool autocastEnabled(c10::DeviceType type) {
#if SEQSAM_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

namespace {

c10::ScalarType autocastType(c10::DeviceType type) {
#if SEQSAM_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void setAutocast(c10::DeviceType type, bool enabled, c10::ScalarType dtype) {
#if SEQSAM_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

}  // namespace

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) {
  if (precision == Precision::Tf32) tf32_.emplace(device.is_cuda());
  if (precision != Precision::Bf16) return;
  require(device.is_cpu() || device.is_cuda(), code::kDevice, "precision 'bf16': autocast needs a CPU or CUDA device, not " + device.str());
  active_ = true;
  type_ = device.type();
  wasEnabled_ = autocastEnabled(type_);
  previousType_ = autocastType(type_);
  setAutocast(type_, true, c10::ScalarType::BFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The outermost scope drops the casts of weights autocast cached for its duration (as torch.autocast).
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  setAutocast(type_, wasEnabled_, previousType_);
}

CpuConvolutionScope::CpuConvolutionScope(const torch::Tensor& x) : input_(x) {
  if (!x.is_cpu()) return;
  guard_.emplace(c10::autocast_dispatch_keyset);
  input_ = x.to(torch::kFloat);
}

}  // namespace seqsam
