// Multi-annotator segmentation metrics: per-image Dice variants, GED, diversities, collective insight and
// Hungarian-matched IoU of M predictions against K labels.
#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/async_task.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "metrics/multi_rater_metrics.h"

namespace seqsam::bindings {

namespace {

// computeMetrics(predictions (N, M, H, W), labels (N, K, H, W), threshold = 0)
//   -> Promise<{ name: Tensor (N,) float64 }>. Float predictions are binarised as > threshold;
//   bool/integer predictions and all labels count nonzero as foreground.
Napi::Value computeMetrics(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    require(info.Length() >= 2, code::kArgument, "computeMetrics(predictions, labels, threshold?)");
    torch::Tensor predictions = TensorHandle::From(info[0], "predictions");
    torch::Tensor labels = TensorHandle::From(info[1], "labels");
    double threshold = 0.0;
    if (info.Length() >= 3 && !info[2].IsUndefined() && !info[2].IsNull()) {
      require(info[2].IsNumber(), code::kArgument, "computeMetrics: threshold must be a number");
      threshold = info[2].As<Napi::Number>().DoubleValue();
    }
    metrics::checkShapes(predictions, labels);  // shape errors throw here, before any work is queued
    return runAsync(info.Env(), [predictions, labels, threshold]() -> Finish {
      metrics::MetricTensors out = metrics::multiRaterMetrics(predictions, labels, threshold);
      return [out](Napi::Env env) -> Napi::Value { return js::namedTensors(env, out); };
    });
  });
}

}  // namespace

void registerMetrics(Napi::Env env, Napi::Object exports) {
  exports.Set("computeMetrics", Napi::Function::New(env, computeMetrics));
}

}  // namespace seqsam::bindings
