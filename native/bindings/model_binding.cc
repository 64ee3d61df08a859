// NativeModel: one SAM / SeqSAM model in native memory, with its trainer. All heavy calls run on the
// thread pool; a per-model mutex keeps concurrent calls on one model in order.
#include <cmath>
#include <limits>
#include <mutex>

#include "bindings/js_convert.h"
#include "bindings/registry.h"
#include "core/async_task.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/js_errors.h"
#include "core/tensor_handle.h"
#include "sam/config.h"
#include "sam/state_dict.h"
#include "seqsam/trainer.h"

namespace seqsam::bindings {

namespace {

using Named = std::vector<std::pair<std::string, torch::Tensor>>;

struct ModelState {
  std::mutex mutex;
  seq::SeqSamModel model{nullptr};
  torch::Device device{torch::kCPU};
  std::unique_ptr<seq::Trainer> trainer;
  bool cudaGraphs = true;  // model options.cudaGraphs: predict's rollout (and, by default, training) replayed from CUDA graphs
};

// "sam" = the official SAM tensors only; "all" adds the recurrent cell.
bool inScope(const std::string& name, const std::string& scope) { return scope == "all" || name.rfind("cell.", 0) != 0; }

Named scopedStateDict(seq::SeqSamModel& model, const std::string& scope) {
  Named out;
  for (auto& [name, t] : sam::stateDict(*model)) {
    if (inScope(name, scope)) out.emplace_back(name, t.detach());
  }
  return out;
}

std::string scopeOf(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return "all";
  require(info[index].IsString(), code::kArgument, "scope must be 'sam' or 'all'");
  std::string scope = info[index].As<Napi::String>();
  require(scope == "sam" || scope == "all", code::kArgument, "scope must be 'sam' or 'all' (got '" + scope + "')");
  return scope;
}

torch::Tensor optionalTensor(const Napi::Object& obj, const char* key, const std::string& what) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return torch::Tensor();
  return TensorHandle::From(v, what + "." + key);
}

std::array<int64_t, 2> size2(const Napi::Object& obj, const char* key, const std::string& what) {
  auto v = js::getIntArray(obj, key, what);
  require(v.size() == 2 && v[0] > 0 && v[1] > 0, code::kArgument, what + "." + key + " must be [height, width]");
  return {v[0], v[1]};
}

void requireShape(const torch::Tensor& t, std::initializer_list<int64_t> shape, const std::string& what) {
  std::vector<int64_t> expected(shape);
  bool ok = t.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || t.size(static_cast<int64_t>(i)) == expected[i];
  if (ok) return;
  std::string want;
  for (size_t i = 0; i < expected.size(); ++i) want += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
  fail(code::kShape, what + " must have shape [" + want + "], got [" + c10::Join(", ", t.sizes()) + "]");
}

// Prompts in the encoder's input frame, on the model's device.
seq::Prompts readPrompts(const Napi::Object& obj, const torch::Device& device, int64_t batch, const std::string& what) {
  seq::Prompts p;
  p.points = optionalTensor(obj, "points", what);
  p.labels = optionalTensor(obj, "pointLabels", what);
  p.boxes = optionalTensor(obj, "boxes", what);
  require(p.points.defined() || p.boxes.defined(), code::kArgument, what + ": give points or boxes");
  if (p.points.defined()) {
    requireShape(p.points, {batch, -1, 2}, what + ".points");
    require(p.labels.defined(), code::kArgument, what + ".pointLabels is required with points");
    requireShape(p.labels, {batch, p.points.size(1)}, what + ".pointLabels");
    p.points = p.points.to(device, torch::kFloat);
    p.labels = p.labels.to(device, torch::kLong).to(torch::kInt);
  }
  if (p.boxes.defined()) {
    requireShape(p.boxes, {batch, 4}, what + ".boxes");
    p.boxes = p.boxes.to(device, torch::kFloat);
  }
  return p;
}

// batch.picks: (B, P) integer steps of the rollout, each below its length max(numMasks, K).
void checkPicks(const torch::Tensor& picks, int64_t batch, int64_t labelCount, const ModelState& state) {
  require(picks.dim() == 2 && picks.size(0) == batch && picks.size(1) >= 1, code::kShape,
          "batch.picks must be (B, P) with B = " + std::to_string(batch) + " and P >= 1, got [" + c10::Join(", ", picks.sizes()) + "]");
  require(c10::isIntegralType(picks.scalar_type(), /*includeBool=*/false), code::kArgument,
          "batch.picks must hold integer step indices, got dtype " + dtypeName(picks.scalar_type()));
  if (!state.trainer) return;  // checked again once training is configured
  const int64_t steps = std::max(state.trainer->config().numMasks, labelCount);
  torch::Tensor host = picks.to(torch::kCPU, torch::kLong);
  const int64_t low = host.min().item<int64_t>(), high = host.max().item<int64_t>();
  require(low >= 0 && high < steps, code::kArgument,
          "batch.picks: step " + std::to_string(low < 0 ? low : high) + " is outside 0.." + std::to_string(steps - 1) +
              " (the rollout has max(numMasks, K) = " + std::to_string(steps) + " steps)");
}

seq::Batch readBatch(const Napi::Object& obj, const ModelState& state) {
  const std::string what = "batch";
  seq::Batch b;
  b.embeddings = optionalTensor(obj, "embeddings", what);
  b.images = optionalTensor(obj, "images", what);
  b.labels = optionalTensor(obj, "labels", what);
  b.labelMask = optionalTensor(obj, "labelMask", what);
  b.picks = optionalTensor(obj, "picks", what);
  require(b.labels.defined(), code::kArgument, "batch.labels is required");
  require(b.labels.dim() == 4, code::kShape, "batch.labels must be (B, K, H, W), got [" + c10::Join(", ", b.labels.sizes()) + "]");
  const int64_t batch = b.labels.size(0);
  require(batch >= 1, code::kShape, "batch.labels: the batch is empty (B = 0, shape [" + c10::Join(", ", b.labels.sizes()) + "])");
  const auto& config = state.model->config();
  const int64_t grid = config.embeddingSize();
  if (b.embeddings.defined()) {
    requireShape(b.embeddings, {batch, config.promptEmbedDim, grid, grid}, "batch.embeddings");
    b.embeddings = b.embeddings.to(state.device, torch::kFloat);
  } else {
    require(b.images.defined(), code::kArgument, "batch: give embeddings or images");
    requireShape(b.images, {batch, 3, config.imageSize, config.imageSize}, "batch.images");
    b.images = b.images.to(state.device, torch::kFloat);
  }
  if (b.labelMask.defined()) requireShape(b.labelMask, {batch, b.labels.size(1)}, "batch.labelMask");
  if (b.picks.defined()) checkPicks(b.picks, batch, b.labels.size(1), state);
  b.prompts = readPrompts(obj, state.device, batch, what);
  return b;
}

// The step's small outputs come to the host in the worker, after the optimizer step: the JS thread never
// waits on the GPU, and nothing is copied back between the forward pass and the update.
seq::StepResult withHostCopies(seq::StepResult r) {
  r.loss = r.loss.cpu();
  if (r.picks.defined()) r.picks = r.picks.cpu();
  if (r.assignment.defined()) r.assignment = r.assignment.cpu();
  return r;
}

Napi::Value stepResult(Napi::Env env, const seq::StepResult& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("loss", r.loss.item<double>());
  if (r.picks.defined()) out.Set("picks", TensorHandle::Wrap(env, r.picks.cpu()));
  if (r.assignment.defined()) out.Set("assignment", TensorHandle::Wrap(env, r.assignment.cpu()));
  if (r.cost.defined()) out.Set("cost", TensorHandle::Wrap(env, r.cost));
  if (r.logits.defined()) out.Set("logits", TensorHandle::Wrap(env, r.logits));
  if (r.sync) {
    Napi::Object sync = Napi::Object::New(env);
    sync.Set("overlap", r.sync->overlap);
    sync.Set("buckets", static_cast<double>(r.sync->buckets));
    sync.Set("launchedDuringBackward", static_cast<double>(r.sync->launchedDuringBackward));
    sync.Set("exposedMs", r.sync->exposedMs);
    out.Set("sync", sync);
  }
  return out;
}

seq::TrainConfig readTrainConfig(const Napi::Object& o) {
  const std::string what = "training";
  seq::TrainConfig c;
  auto str = [&](const char* key, const char* fallback) -> std::string {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    require(v.IsString(), code::kArgument, what + "." + key + " must be a string");
    return v.As<Napi::String>();
  };
  c.objective = seq::parseObjective(str("objective", "seqsam"));
  c.pooling = seq::parsePooling(str("pooling", "strided"));
  c.matching = seq::parseMatching(str("matching", "hungarian"));
  c.baselineDice = seq::parseBaselineDice(str("baselineDice", "whole-mask"));
  c.blankMasking = seq::parseBlankMasking(str("blankMasking", "matched-label"));
  c.optimizer.decayExempt = seq::parseDecayExemption(str("decayExempt", "none"));
  std::string feedback = str("feedback", "backprop");
  require(feedback == "backprop" || feedback == "stop-gradient", code::kArgument, what + ".feedback must be 'backprop' or 'stop-gradient'");
  c.feedback = feedback == "backprop" ? seq::Feedback::Backprop : seq::Feedback::StopGradient;
  std::string reduction = str("reduction", "");
  if (!reduction.empty()) c.reduction = seq::parseReduction(reduction);
  const double numMasks = js::getNumberOr(o, "numMasks", 4, what);
  require(std::floor(numMasks) == numMasks && numMasks >= 1 && numMasks <= 1024, code::kArgument,
          what + ".numMasks must be an integer between 1 and 1024 (got " + std::to_string(numMasks) + ")");
  c.numMasks = static_cast<int64_t>(numMasks);
  c.optimizer.lr = js::getNumberOr(o, "lr", 1e-4, what);
  c.optimizer.weightDecay = js::getNumberOr(o, "weightDecay", 0.01, what);
  auto betas = o.Get("betas");
  if (!betas.IsUndefined()) {
    auto b = js::getNumberArray(o, "betas", what);
    require(b.size() == 2 && b[0] >= 0 && b[0] < 1 && b[1] >= 0 && b[1] < 1, code::kArgument, what + ".betas must be [b1, b2] in [0, 1)");
    c.optimizer.beta1 = b[0];
    c.optimizer.beta2 = b[1];
  }
  c.optimizer.eps = js::getNumberOr(o, "eps", 1e-8, what);
  c.gradClip = js::getNumberOr(o, "gradClip", 0, what);
  c.trainEncoder = js::getBoolOr(o, "trainEncoder", false, what);
  c.seed = static_cast<uint64_t>(js::getNumberOr(o, "seed", 0, what));
  // Each setting must be finite and fit a float32 scalar: the step applies them to float32 tensors.
  const double limit = static_cast<double>(std::numeric_limits<float>::max());
  auto inRange = [&](const char* key, double v, bool positive) {
    require(std::isfinite(v) && (positive ? v > 0 : v >= 0) && v <= limit, code::kArgument,
            what + "." + key + " must be a finite number " + (positive ? "> 0" : ">= 0") + " and at most " + std::to_string(limit) +
                " (got " + std::to_string(v) + ")");
  };
  inRange("lr", c.optimizer.lr, false);
  inRange("weightDecay", c.optimizer.weightDecay, false);
  inRange("gradClip", c.gradClip, false);
  inRange("eps", c.optimizer.eps, true);
  return c;
}

class ModelHandle : public Napi::ObjectWrap<ModelHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {
                           InstanceMethod<&ModelHandle::Config>("config"),
                           InstanceMethod<&ModelHandle::Device>("device"),
                           InstanceMethod<&ModelHandle::PrecisionName>("precision"),
                           InstanceMethod<&ModelHandle::ParameterShapes>("parameterShapes"),
                           InstanceMethod<&ModelHandle::Load>("load"),
                           InstanceMethod<&ModelHandle::StateDict>("stateDict"),
                           InstanceMethod<&ModelHandle::Embed>("embed"),
                           InstanceMethod<&ModelHandle::Predict>("predict"),
                           InstanceMethod<&ModelHandle::ConfigureTraining>("configureTraining"),
                           InstanceMethod<&ModelHandle::TrainStep>("trainStep"),
                           InstanceMethod<&ModelHandle::EvalStep>("evalStep"),
                           InstanceMethod<&ModelHandle::Gradients>("gradients"),
                           InstanceMethod<&ModelHandle::OptimizerState>("optimizerState"),
                           InstanceMethod<&ModelHandle::LoadOptimizerState>("loadOptimizerState"),
                           InstanceMethod<&ModelHandle::CudaGraphStats>("cudaGraphStats"),
                           InstanceMethod<&ModelHandle::Dispose>("dispose"),
                       });
  }

  explicit ModelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelHandle>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&]() -> Napi::Value {
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "NativeModel(options): options must be an object");
      Napi::Object o = info[0].As<Napi::Object>();
      sam::SamConfig config;
      Napi::Value preset = o.Get("preset");
      Napi::Value json = o.Get("config");
      if (preset.IsString()) {
        config = sam::presetConfig(preset.As<Napi::String>());
      } else {
        require(json.IsString(), code::kArgument, "model options: give a preset ('vit_b', 'vit_l', 'vit_h') or a config");
        config = sam::configFromJson(json.As<Napi::String>());
      }
      state_ = std::make_shared<ModelState>();
      state_->device = parseDevice(js::getString(o, "device", "model options"), "model options.device");
      torch::manual_seed(static_cast<uint64_t>(js::getNumberOr(o, "seed", 0, "model options")));
      state_->model = seq::SeqSamModel(config);
      state_->model->to(state_->device);
      state_->model->eval();
      state_->cudaGraphs = js::getBoolOr(o, "cudaGraphs", true, "model options");
      Napi::Value precision = o.Get("precision");
      if (!precision.IsUndefined() && !precision.IsNull()) {
        require(precision.IsString(), code::kArgument, "model options.precision must be 'fp32', 'bf16' or 'tf32'");
        state_->model->sam->setPrecision(parsePrecision(precision.As<Napi::String>()));
      }
      return env.Undefined();
    });
  }

 private:
  std::shared_ptr<ModelState> state_;

  std::shared_ptr<ModelState> live() {
    require(state_ != nullptr, code::kDisposed, "the model was disposed");
    return state_;
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), sam::configToJson(live()->model->config())); });
  }

  Napi::Value Device(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), live()->device.str()); });
  }

  Napi::Value PrecisionName(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      return Napi::String::New(info.Env(), precisionName(live()->model->sam->precision()));
    });
  }

  // parameterShapes(scope) -> { name: shape }
  Napi::Value ParameterShapes(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      std::lock_guard<std::mutex> lock(state->mutex);
      Napi::Object out = Napi::Object::New(info.Env());
      for (auto& [name, t] : scopedStateDict(state->model, scopeOf(info, 0))) {
        Napi::Array shape = Napi::Array::New(info.Env(), t.dim());
        for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), static_cast<double>(t.size(i)));
        out.Set(name, shape);
      }
      return out;
    });
  }

  // load({ name: Tensor }, strict, scope, optimizerState?) -> Promise<void>; names are already the official
  // ones. With an optimizer state, weights and state are both checked before either is applied: a refused
  // checkpoint leaves the model and its optimizer exactly as they were.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      require(info.Length() >= 2 && info[0].IsObject() && info[1].IsBoolean(), code::kArgument, "load(tensors, strict, scope, optimizerState)");
      Named tensors = js::readNamedTensors(info[0].As<Napi::Object>(), "checkpoint");
      bool strict = info[1].As<Napi::Boolean>();
      std::string scope = scopeOf(info, 2);
      std::optional<Named> optimizerState;
      if (info.Length() >= 4 && !info[3].IsUndefined() && !info[3].IsNull()) {
        require(info[3].IsObject(), code::kArgument, "load: optimizerState must be an object of tensors");
        optimizerState = js::readNamedTensors(info[3].As<Napi::Object>(), "optimizer state");
      }
      return runAsync(info.Env(), [state, tensors = std::move(tensors), strict, scope, optimizerState = std::move(optimizerState)]() -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (optimizerState) {
          require(state->trainer != nullptr, code::kArgument, "load: an optimizer state needs configureTraining() first");
          state->trainer->optimizer().checkState(*optimizerState, "checkpoint");
        }
        if (scope == "all") {
          sam::loadStateDict(*state->model, tensors, strict);
        } else {
          // The SAM part alone: the cell keeps its own (fresh) weights.
          sam::loadStateDict(*state->model->sam, tensors, strict);
        }
        if (optimizerState) state->trainer->optimizer().loadState(*optimizerState, "checkpoint");
        return nullptr;
      });
    });
  }

  // stateDict(scope) -> { name: Tensor } (live views of the weights)
  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      std::lock_guard<std::mutex> lock(state->mutex);
      return js::namedTensors(info.Env(), scopedStateDict(state->model, scopeOf(info, 0)));
    });
  }

  // embed(image (H, W, 3) or (B, H, W, 3), uint8 or float on the 0..255 scale) ->
  //   Promise<{ embeddings (B, C, h, w), inputSize: [h, w] }>
  // Resizes the long side to the encoder size (antialiased bilinear, as PIL), normalises, pads, encodes.
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      require(info.Length() >= 1, code::kArgument, "embed(image)");
      torch::Tensor image = TensorHandle::From(info[0], "image");
      require((image.dim() == 3 || image.dim() == 4) && image.size(-1) == 3, code::kShape,
              "image must be (H, W, 3) or (B, H, W, 3) RGB, got [" + c10::Join(", ", image.sizes()) + "]");
      require(image.size(-2) > 0 && image.size(-3) > 0, code::kShape, "image is empty");
      require(image.dim() == 3 || image.size(0) > 0, code::kShape, "image: the batch is empty (B = 0)");
      return runAsync(info.Env(), [state, image]() -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        torch::NoGradGuard noGrad;
        const auto& config = state->model->config();
        torch::Tensor batch = (image.dim() == 3 ? image.unsqueeze(0) : image).to(state->device);
        const bool bytes = batch.scalar_type() == torch::kByte;
        torch::Tensor nchw = batch.permute({0, 3, 1, 2}).to(torch::kFloat);
        require(torch::isfinite(nchw).all().item<bool>(), code::kArgument, "image holds NaN or infinite pixels");
        const std::array<int64_t, 2> resized = sam::resizeLongestSide(nchw.size(2), nchw.size(3), config.imageSize);
        const int64_t h = resized[0], w = resized[1];
        if (h != nchw.size(2) || w != nchw.size(3)) {
          namespace F = torch::nn::functional;
          nchw = F::interpolate(nchw, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false).antialias(true));
          if (bytes) nchw = nchw.round().clamp(0, 255);  // PIL resizes uint8 images to uint8
        }
        torch::Tensor embeddings = state->model->sam->encodeImage(state->model->sam->preprocess(nchw));
        return [embeddings, h = h, w = w](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("embeddings", TensorHandle::Wrap(env, embeddings));
          Napi::Array size = Napi::Array::New(env, 2);
          size.Set(0u, static_cast<double>(h));
          size.Set(1u, static_cast<double>(w));
          out.Set("inputSize", size);
          return out;
        };
      });
    });
  }

  // predict(embeddings (1 or B, C, h, w), prompts, options) -> Promise<{ masks, lowResLogits, iou }>
  // prompts: { points (B, N, 2), pointLabels (B, N), boxes (B, 4), maskInput (B, 1, 4h, 4w) } in original
  // pixels; options: { originalSize, inputSize, multimask, numMasks (SeqSAM steps; 0 = plain SAM) }.
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      require(info.Length() >= 3 && info[1].IsObject() && info[2].IsObject(), code::kArgument, "predict(embeddings, prompts, options)");
      torch::Tensor embeddings = TensorHandle::From(info[0], "embeddings");
      const auto& config = state->model->config();
      const int64_t grid = config.embeddingSize();
      requireShape(embeddings, {-1, config.promptEmbedDim, grid, grid}, "embeddings");
      Napi::Object p = info[1].As<Napi::Object>();
      Napi::Object o = info[2].As<Napi::Object>();
      auto originalSize = size2(o, "originalSize", "options");
      auto inputSize = size2(o, "inputSize", "options");
      bool multimask = js::getBoolOr(o, "multimask", true, "options");
      auto numMasks = static_cast<int64_t>(js::getNumberOr(o, "numMasks", 0, "options"));
      require(numMasks >= 0 && numMasks <= 1024, code::kArgument, "options.numMasks must be between 0 and 1024");
      // The disagreement maps come with every SeqSAM rollout; plain SAM computes them when asked (3 heads).
      const bool uncertainty = numMasks > 0 || js::getBoolOr(o, "uncertainty", false, "options");
      // The prompt batch: from boxes or points.
      torch::Tensor boxes = optionalTensor(p, "boxes", "prompts");
      torch::Tensor points = optionalTensor(p, "points", "prompts");
      torch::Tensor maskInput = optionalTensor(p, "maskInput", "prompts");
      require(boxes.defined() || points.defined(), code::kArgument, "prompts: give points or a box");
      require((!boxes.defined() || boxes.dim() >= 1) && (!points.defined() || points.dim() >= 1), code::kShape,
              "prompts: boxes must be (B, 4) and points (B, N, 2)");
      const int64_t batch = boxes.defined() ? boxes.size(0) : points.size(0);
      require(batch >= 1, code::kShape, std::string("prompts.") + (boxes.defined() ? "boxes" : "points") + ": the prompt batch is empty (B = 0)");
      require(embeddings.size(0) >= 1, code::kShape, "embeddings: the batch is empty (B = 0)");
      require(embeddings.size(0) == 1 || embeddings.size(0) == batch, code::kShape,
              "embeddings: batch " + std::to_string(embeddings.size(0)) + " must be 1 or the prompt batch " + std::to_string(batch));
      seq::Prompts prompts = readPrompts(p, state->device, batch, "prompts");
      if (maskInput.defined()) {
        requireShape(maskInput, {batch, 1, 4 * grid, 4 * grid}, "prompts.maskInput");
        require(numMasks == 0, code::kArgument, "prompts.maskInput: SeqSAM feeds its own masks back; give maskInput to plain SAM only");
        maskInput = maskInput.to(state->device, torch::kFloat);
      }
      return runAsync(info.Env(), [state, embeddings, prompts, maskInput, originalSize, inputSize, multimask, numMasks, uncertainty]() mutable -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        torch::NoGradGuard noGrad;
        auto& model = state->model;
        model->eval();
        const int64_t longSide = model->config().imageSize;
        if (prompts.points.defined()) prompts.points = sam::applyCoords(prompts.points, originalSize, longSide);
        if (prompts.boxes.defined()) prompts.boxes = sam::applyBoxes(prompts.boxes, originalSize, longSide);
        torch::Tensor image = embeddings.to(state->device, torch::kFloat);
        torch::Tensor lowRes, iou;
        if (numMasks > 0) {
          auto rollout = model->predictRollout(image, prompts, numMasks, state->cudaGraphs);
          lowRes = rollout.logits;
          iou = rollout.iou;
          // Run far past the steps it was trained for, the recurrence can grow without bound: say where,
          // rather than hand back NaN masks.
          torch::Tensor finite = torch::isfinite(lowRes).flatten(2).all(2).all(0);  // (M,)
          if (!finite.all().item<bool>()) {
            int64_t step = torch::logical_not(finite).nonzero()[0][0].item<int64_t>();
            require(step > 0, code::kArgument, "predict: the first mask is already non-finite (NaN or infinite values in the embedding?)");
            fail(code::kArgument, "numMasks = " + std::to_string(numMasks) + ": the recurrence diverges at step " + std::to_string(step + 1) +
                                      " (non-finite logits from there on); ask for at most " + std::to_string(step) + " masks");
          }
        } else {
          auto out = model->sam->predict(image, prompts.points, prompts.labels, prompts.boxes, maskInput, multimask);
          lowRes = out.lowResMasks;
          iou = out.iouPred;
        }
        torch::Tensor masks = model->sam->postprocess(lowRes, inputSize, originalSize);
        torch::Tensor mean, variance;
        if (uncertainty) {
          // Where the M hypotheses disagree: mean and variance of the per-pixel probabilities.
          torch::Tensor probs = torch::sigmoid(masks);
          mean = probs.mean(1);
          variance = probs.var(1, /*unbiased=*/false);
        }
        return [masks, lowRes, iou, mean, variance](Napi::Env env) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("masks", TensorHandle::Wrap(env, masks));
          if (mean.defined()) out.Set("mean", TensorHandle::Wrap(env, mean));
          if (variance.defined()) out.Set("variance", TensorHandle::Wrap(env, variance));
          out.Set("lowResLogits", TensorHandle::Wrap(env, lowRes));
          out.Set("iou", TensorHandle::Wrap(env, iou));
          return out;
        };
      });
    });
  }

  // configureTraining(options): objective, pooling, matching, feedback, optimizer settings.
  Napi::Value ConfigureTraining(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "configureTraining(options)");
      seq::TrainConfig config = readTrainConfig(info[0].As<Napi::Object>());
      config.cudaGraphs = js::getBoolOr(info[0].As<Napi::Object>(), "cudaGraphs", state->cudaGraphs, "training");
      std::lock_guard<std::mutex> lock(state->mutex);
      state->trainer = std::make_unique<seq::Trainer>(state->model, config);
      return info.Env().Undefined();
    });
  }

  seq::Trainer& trainer(ModelState& state) {
    require(state.trainer != nullptr, code::kArgument, "call configureTraining() before training");
    return *state.trainer;
  }

  // trainStep(batch, { lr, update }) -> Promise<{ loss, picks, assignment, cost, logits, sync? }>
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      trainer(*state);
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "trainStep(batch, options)");
      seq::Batch batch = readBatch(info[0].As<Napi::Object>(), *state);
      std::optional<double> lr;
      bool update = true;
      if (info.Length() >= 2 && info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        if (o.Get("lr").IsNumber()) lr = o.Get("lr").As<Napi::Number>().DoubleValue();
        require(!lr || (std::isfinite(*lr) && *lr >= 0 && *lr <= std::numeric_limits<float>::max()), code::kArgument,
                "trainStep: options.lr must be a finite number >= 0 (got " + std::to_string(lr.value_or(0)) + ")");
        update = js::getBoolOr(o, "update", true, "trainStep options");
      }
      return runAsync(info.Env(), [state, batch = std::move(batch), lr, update]() -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        seq::StepResult r = withHostCopies(state->trainer->step(batch, lr, update));
        return [r](Napi::Env env) { return stepResult(env, r); };
      });
    });
  }

  // evalStep(batch, numMasks) -> Promise<{ loss, cost, assignment, logits }>
  Napi::Value EvalStep(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      trainer(*state);
      require(info.Length() >= 2 && info[0].IsObject() && info[1].IsNumber(), code::kArgument, "evalStep(batch, numMasks)");
      seq::Batch batch = readBatch(info[0].As<Napi::Object>(), *state);
      auto numMasks = info[1].As<Napi::Number>().Int64Value();
      require(numMasks >= 1 && numMasks <= 1024, code::kArgument, "evalStep: numMasks must be between 1 and 1024");
      return runAsync(info.Env(), [state, batch = std::move(batch), numMasks]() -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        seq::StepResult r = withHostCopies(state->trainer->evaluate(batch, numMasks));
        return [r](Napi::Env env) { return stepResult(env, r); };
      });
    });
  }

  // gradients() -> { name: Tensor } for every parameter holding a gradient (after trainStep).
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      std::lock_guard<std::mutex> lock(state->mutex);
      Named grads;
      for (const auto& item : state->model->named_parameters()) {
        if (item.value().grad().defined()) grads.emplace_back(item.key(), item.value().grad().detach().clone());
      }
      return js::namedTensors(info.Env(), grads);
    });
  }

  Napi::Value OptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      std::lock_guard<std::mutex> lock(state->mutex);
      return js::namedTensors(info.Env(), trainer(*state).optimizer().state());
    });
  }

  Napi::Value LoadOptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      trainer(*state);
      require(info.Length() >= 1 && info[0].IsObject(), code::kArgument, "loadOptimizerState(tensors)");
      Named tensors = js::readNamedTensors(info[0].As<Napi::Object>(), "optimizer state");
      return runAsync(info.Env(), [state, tensors = std::move(tensors)]() -> Finish {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->trainer->optimizer().loadState(tensors, "checkpoint");
        return nullptr;
      });
    });
  }

  // cudaGraphStats() -> { inference, training (null before configureTraining) }, each { captures, replays,
  // failures, lastFailure }: whether the CUDA graphs were recorded and replayed, or fell back to eager.
  Napi::Value CudaGraphStats(const Napi::CallbackInfo& info) {
    return guarded(info.Env(), [&]() -> Napi::Value {
      auto state = live();
      std::lock_guard<std::mutex> lock(state->mutex);
      auto toJs = [&](const cuda::GraphStats& stats) {
        Napi::Object o = Napi::Object::New(info.Env());
        o.Set("captures", static_cast<double>(stats.captures));
        o.Set("replays", static_cast<double>(stats.replays));
        o.Set("failures", static_cast<double>(stats.failures));
        o.Set("lastFailure", stats.lastFailure);
        return o;
      };
      Napi::Object out = Napi::Object::New(info.Env());
      out.Set("inference", toJs(state->model->rolloutGraphStats()));
      out.Set("training", state->trainer ? Napi::Value(toJs(state->trainer->graphStats())) : info.Env().Null());
      return out;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    // Work already queued keeps its own reference and finishes; the weights go when it does.
    state_.reset();
    return info.Env().Undefined();
  }
};

}  // namespace

void registerModel(Napi::Env env, Napi::Object exports) { exports.Set("NativeModel", ModelHandle::Define(env)); }

}  // namespace seqsam::bindings
