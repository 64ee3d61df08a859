#include "bindings/registry.h"

namespace seqsam::bindings {

void registerSam(Napi::Env env, Napi::Object exports) {}

}  // namespace seqsam::bindings
