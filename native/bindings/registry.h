// Each binding file adds its functions to the module's exports.
#pragma once
#include <napi.h>

namespace seqsam::bindings {

void registerRuntime(Napi::Env env, Napi::Object exports);
void registerCheckpointIo(Napi::Env env, Napi::Object exports);
void registerModel(Napi::Env env, Napi::Object exports);
void registerOps(Napi::Env env, Napi::Object exports);
// Adds setLoss / winnerLoss to the ops object registerOps builds.
void registerObjectiveOps(Napi::Env env, Napi::Object ops);
// Adds the AdamW class (the native optimizer on tensors the caller chooses) to the ops object.
void registerAdamW(Napi::Env env, Napi::Object ops);
void registerMetrics(Napi::Env env, Napi::Object exports);
void registerDistributed(Napi::Env env, Napi::Object exports);

}  // namespace seqsam::bindings
