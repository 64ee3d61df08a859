#include "seqsam/seqsam_model.h"

#include <ATen/record_function.h>

#include "core/errors.h"
#include "core/precision.h"

namespace seqsam::seq {

SeqSamModelImpl::SeqSamModelImpl(const sam::SamConfig& config) {
  sam = sam::SamModel(config);
  // Official state-dict names (image_encoder.*, ...) plus cell.*: no `sam.` level in between.
  register_module("image_encoder", sam->image_encoder);
  register_module("prompt_encoder", sam->prompt_encoder);
  register_module("mask_decoder", sam->mask_decoder);
  cell = register_module("cell", RecurrentCell(config.promptEmbedDim));
}

Rollout SeqSamModelImpl::rollout(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, Feedback feedback) {
  RECORD_USER_SCOPE("seqsam::rollout");  // a named range in profiler traces (seqsam bench --profile)
  require(numMasks >= 1, code::kArgument, "numMasks must be at least 1");
  std::vector<torch::Tensor> logits, iou;
  {
    AutocastScope autocast(imageEmbeddings.device(), sam->precision());
    steps(imageEmbeddings, prompts, numMasks, feedback, logits, iou);
  }
  return {torch::cat(logits, 1).to(torch::kFloat), torch::cat(iou, 1).to(torch::kFloat)};
}

Rollout SeqSamModelImpl::predictRollout(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, bool graphed) {
  const bool onDevice = imageEmbeddings.is_cuda() || cuda::graphsEmulated();
  if (!graphed || !onDevice || torch::GradMode::is_enabled() || !cuda::graphsEnabled()) {
    return rollout(imageEmbeddings, prompts, numMasks, Feedback::Backprop);
  }
  require(numMasks >= 1, code::kArgument, "numMasks must be at least 1");
  const std::string key = cuda::layoutKey({imageEmbeddings, prompts.points, prompts.labels, prompts.boxes}) + "M=" + std::to_string(numMasks) +
                          ";" + precisionName(sam->precision());
  auto& cache = *rolloutGraphs_;
  if (cache.failed(key)) return rollout(imageEmbeddings, prompts, numMasks, Feedback::Backprop);
  auto* entry = cache.find(key);
  if (entry == nullptr) {
    RolloutInputs inputs{cuda::staticInput(imageEmbeddings),
                         {cuda::staticInput(prompts.points), cuda::staticInput(prompts.labels), cuda::staticInput(prompts.boxes)}};
    auto body = [this, inputs, numMasks](cuda::GraphPhase) -> std::vector<torch::Tensor> {
      Rollout r = rollout(inputs.embeddings, inputs.prompts, numMasks, Feedback::Backprop);
      return {r.logits, r.iou};
    };
    std::unique_ptr<cuda::CapturedGraph> graph;
    try {
      graph = std::make_unique<cuda::CapturedGraph>(imageEmbeddings.device(), body);
    } catch (const std::exception& e) {
      cache.markFailed(key, e.what());
      return rollout(imageEmbeddings, prompts, numMasks, Feedback::Backprop);
    }
    ++cache.stats.captures;
    entry = &cache.insert(key, inputs, std::move(graph));
  } else {
    const RolloutInputs& in = entry->statics;
    cuda::writeStaticInput(in.embeddings, imageEmbeddings);
    cuda::writeStaticInput(in.prompts.points, prompts.points);
    cuda::writeStaticInput(in.prompts.labels, prompts.labels);
    cuda::writeStaticInput(in.prompts.boxes, prompts.boxes);
  }
  const std::vector<torch::Tensor>& out = entry->graph->replay();
  ++cache.stats.replays;
  // The outputs are overwritten by the next replay: the caller gets its own.
  return {out[0].clone(), out[1].clone()};
}

void SeqSamModelImpl::steps(const torch::Tensor& imageEmbeddings, const Prompts& prompts, int64_t numMasks, Feedback feedback,
                            std::vector<torch::Tensor>& logits, std::vector<torch::Tensor>& iou) {
  auto& promptEncoder = sam->prompt_encoder;
  auto& decoder = sam->mask_decoder;
  torch::Tensor imagePe = promptEncoder->getDensePe();

  logits.reserve(numMasks);
  iou.reserve(numMasks);
  // Points and boxes only, embedded once: every step sees the same ones (their gradients from all steps add up
  // in this one node). The mask prompt's dense embedding is folded into the cell below.
  const sam::PromptEmbeddings embedded = promptEncoder->forward(prompts.points, prompts.labels, prompts.boxes, torch::Tensor());
  const int64_t batch = embedded.dense.size(0), height = embedded.dense.size(2), width = embedded.dense.size(3);
  torch::Tensor previous;  // step m-1's logits: the mask prompt of step m
  torch::Tensor hidden;
  for (int64_t m = 0; m < numMasks; ++m) {
    const bool last = m + 1 == numMasks;  // the last step's H is never used
    CellOutput cellOut;
    if (!previous.defined()) {
      // No mask prompt yet: the dense embedding is SAM's no-mask vector everywhere and H0 = 0.
      cellOut = cell->forwardConstant(promptEncoder->no_mask_embed->weight, batch, height, width, !last);
    } else {
      // The previous logits through the mask prompt's layers up to its final 1×1 projection.
      CpuConvolutionScope conv(previous);
      torch::Tensor features = conv.input();
      auto layer = promptEncoder->mask_downscaling->begin();
      const size_t projection = promptEncoder->mask_downscaling->size() - 1;
      for (size_t i = 0; i < projection; ++i, ++layer) features = layer->forward(features);
      auto project = promptEncoder->mask_downscaling->ptr<torch::nn::Conv2dImpl>(projection);
      cellOut = cell->forwardFactored(features, project->weight, project->bias, hidden, !last);
    }
    hidden = cellOut.hidden;
    sam::MaskDecoderOutput out = decoder->forward(imageEmbeddings, imagePe, embedded.sparse, cellOut.dense, /*multimask=*/false);
    logits.push_back(out.lowResMasks);
    iou.push_back(out.iouPred);
    previous = feedback == Feedback::StopGradient ? out.lowResMasks.detach() : out.lowResMasks;
  }
}

sam::MaskDecoderOutput SeqSamModelImpl::decodeOnce(const torch::Tensor& imageEmbeddings, const Prompts& prompts, bool multimask) {
  RECORD_USER_SCOPE("seqsam::decode");
  return sam->predict(imageEmbeddings, prompts.points, prompts.labels, prompts.boxes, torch::Tensor(), multimask);
}

}  // namespace seqsam::seq
