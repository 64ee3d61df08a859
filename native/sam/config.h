// Every architecture number of a SAM model, so that one code path builds ViT-B/L/H and the tiny fixture.
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seqsam::sam {

struct SamConfig {
  // Image side the encoder sees (inputs are padded to imageSize x imageSize) and the ViT patch side.
  int64_t imageSize = 1024;
  int64_t patchSize = 16;

  // ViT image encoder. Defaults are ViT-B.
  int64_t encoderEmbedDim = 768;
  int64_t encoderDepth = 12;
  int64_t encoderHeads = 12;
  double mlpRatio = 4.0;
  int64_t windowSize = 14;  // 0 makes every block global
  std::vector<int64_t> globalAttnIndexes{2, 5, 8, 11};
  bool useRelPos = true;
  bool qkvBias = true;
  double encoderLnEps = 1e-6;

  // Width shared by the encoder neck (its out_chans), the prompt encoder and the mask decoder.
  int64_t promptEmbedDim = 256;
  int64_t maskInChans = 16;

  // Two-way transformer and mask decoder heads.
  int64_t decoderDepth = 2;
  int64_t decoderMlpDim = 2048;
  int64_t decoderHeads = 8;
  int64_t attentionDownsampleRate = 2;
  int64_t numMultimaskOutputs = 3;
  int64_t iouHeadDepth = 3;
  int64_t iouHeadHiddenDim = 256;

  // Pixel normalisation (RGB, 0..255 scale). Not part of the state dict.
  std::array<double, 3> pixelMean{123.675, 116.28, 103.53};
  std::array<double, 3> pixelStd{58.395, 57.12, 57.375};

  // Side of the image-embedding grid (64 for the real models).
  int64_t embeddingSize() const { return imageSize / patchSize; }
  // The encoder neck's output channels are the prompt width, as in the official build.
  int64_t outChans() const { return promptEmbedDim; }
};

// Throws seqsam::Error(kArgument) naming the first inconsistent field.
void validateConfig(const SamConfig& config);

// "vit_b", "vit_l", "vit_h" (the official build_sam numbers); anything else throws kArgument.
SamConfig presetConfig(const std::string& name);

// Fields by their snake_case path in reference.json's "config" object, nested objects joined with '.'
// ("image_size", "encoder.embed_dim", "decoder.iou_head_depth", "pixel_mean", ...). Scalars are 1-element
// vectors, booleans 0/1. Absent fields keep base's value; unknown or ill-typed fields throw kArgument.
SamConfig configFromMap(const std::map<std::string, std::vector<double>>& fields, const SamConfig& base = SamConfig());

// The JSON form of reference.json's "config" object (a document with a top-level "config" object is also
// accepted; then only that object is read). Strictly typed: ints must be integral numbers, booleans true/false.
SamConfig configFromJson(const std::string& json, const SamConfig& base = SamConfig());

// Inverse of configFromJson, same nesting and key names as reference.json.
std::string configToJson(const SamConfig& config);

}  // namespace seqsam::sam
