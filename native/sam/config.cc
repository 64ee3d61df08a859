#include "sam/config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <variant>

#include "core/errors.h"

namespace seqsam::sam {

namespace {

// One table drives parsing, validation of types and serialisation, so the three can never disagree.
using FieldRef = std::variant<int64_t SamConfig::*, double SamConfig::*, bool SamConfig::*,
                              std::vector<int64_t> SamConfig::*, std::array<double, 3> SamConfig::*>;

struct FieldSpec {
  const char* path;  // dotted snake_case path, as in reference.json
  FieldRef ref;
};

const std::vector<FieldSpec>& fieldTable() {
  static const std::vector<FieldSpec> table = {
      {"image_size", &SamConfig::imageSize},
      {"patch_size", &SamConfig::patchSize},
      {"encoder.embed_dim", &SamConfig::encoderEmbedDim},
      {"encoder.depth", &SamConfig::encoderDepth},
      {"encoder.num_heads", &SamConfig::encoderHeads},
      {"encoder.mlp_ratio", &SamConfig::mlpRatio},
      {"encoder.window_size", &SamConfig::windowSize},
      {"encoder.global_attn_indexes", &SamConfig::globalAttnIndexes},
      {"encoder.use_rel_pos", &SamConfig::useRelPos},
      {"encoder.qkv_bias", &SamConfig::qkvBias},
      {"encoder.layer_norm_eps", &SamConfig::encoderLnEps},
      {"prompt_embed_dim", &SamConfig::promptEmbedDim},
      {"mask_in_chans", &SamConfig::maskInChans},
      {"decoder.transformer_depth", &SamConfig::decoderDepth},
      {"decoder.transformer_mlp_dim", &SamConfig::decoderMlpDim},
      {"decoder.transformer_num_heads", &SamConfig::decoderHeads},
      {"decoder.attention_downsample_rate", &SamConfig::attentionDownsampleRate},
      {"decoder.num_multimask_outputs", &SamConfig::numMultimaskOutputs},
      {"decoder.iou_head_depth", &SamConfig::iouHeadDepth},
      {"decoder.iou_head_hidden_dim", &SamConfig::iouHeadHiddenDim},
      {"pixel_mean", &SamConfig::pixelMean},
      {"pixel_std", &SamConfig::pixelStd},
  };
  return table;
}

const FieldSpec* findField(const std::string& path) {
  for (const auto& f : fieldTable())
    if (path == f.path) return &f;
  return nullptr;
}

bool isIntegral(double v) { return std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9007199254740992.0; }

std::string formatNumber(double v) {
  // Shortest text that reads back to the same double, in Python's style ("4.0", "1e-06", "123.675").
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s(buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string describe(const std::vector<double>& values) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << formatNumber(values[i]);
  os << "]";
  return os.str();
}

void setField(SamConfig& config, const FieldSpec& spec, const std::vector<double>& values) {
  const std::string name = spec.path;
  auto bad = [&](const std::string& what) {
    fail(code::kArgument, "config field '" + name + "' " + what + ", got " + describe(values));
  };
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(config.*member)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (values.size() != 1 || !isIntegral(values[0])) bad("must be one integer");
          config.*member = static_cast<int64_t>(values[0]);
        } else if constexpr (std::is_same_v<T, double>) {
          if (values.size() != 1 || !std::isfinite(values[0])) bad("must be one finite number");
          config.*member = values[0];
        } else if constexpr (std::is_same_v<T, bool>) {
          if (values.size() != 1 || (values[0] != 0.0 && values[0] != 1.0)) bad("must be a boolean (0 or 1)");
          config.*member = values[0] != 0.0;
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          std::vector<int64_t> out;
          for (double v : values) {
            if (!isIntegral(v)) bad("must be a list of integers");
            out.push_back(static_cast<int64_t>(v));
          }
          config.*member = out;
        } else {
          if (values.size() != 3) bad("must be a list of 3 numbers");
          for (size_t i = 0; i < 3; ++i) {
            if (!std::isfinite(values[i])) bad("must be a list of 3 finite numbers");
            (config.*member)[i] = values[i];
          }
        }
      },
      spec.ref);
}

// ---- A small JSON reader: just enough for the config object (objects, arrays, numbers, booleans). ----

struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : s_(text) {}

  JsonValue document() {
    JsonValue v = value(0);
    skipSpace();
    if (pos_ != s_.size()) error("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    fail(code::kArgument, "config JSON: " + what + " at offset " + std::to_string(pos_));
  }

  void skipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  bool consume(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  JsonValue value(int depth) {
    if (depth > 32) error("nesting too deep");
    skipSpace();
    if (pos_ >= s_.size()) error("unexpected end");
    JsonValue v;
    char c = s_[pos_];
    if (c == '{') {
      v.type = JsonValue::Type::Object;
      ++pos_;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return v; }
      for (;;) {
        skipSpace();
        if (pos_ >= s_.size() || s_[pos_] != '"') error("expected a key");
        std::string key = string();
        skipSpace();
        if (pos_ >= s_.size() || s_[pos_] != ':') error("expected ':'");
        ++pos_;
        v.object.emplace_back(std::move(key), value(depth + 1));
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; return v; }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.type = JsonValue::Type::Array;
      ++pos_;
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return v; }
      for (;;) {
        v.array.push_back(value(depth + 1));
        skipSpace();
        if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; return v; }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = JsonValue::Type::String;
      v.string = string();
      return v;
    }
    if (consume("true")) { v.type = JsonValue::Type::Bool; v.boolean = true; return v; }
    if (consume("false")) { v.type = JsonValue::Type::Bool; return v; }
    if (consume("null")) return v;
    size_t start = pos_;
    while (pos_ < s_.size() && std::strchr("+-0123456789.eE", s_[pos_]) != nullptr) ++pos_;
    if (start == pos_) error("unexpected character");
    std::string text = s_.substr(start, pos_ - start);
    char* end = nullptr;
    v.type = JsonValue::Type::Number;
    v.number = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) error("malformed number '" + text + "'");
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) break;
        char e = s_[pos_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': pos_ += 4; out += '?'; break;  // config keys are ASCII; keep the parse aligned
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    if (pos_ >= s_.size()) error("unterminated string");
    ++pos_;
    return out;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

const char* typeName(const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::Null: return "null";
    case JsonValue::Type::Bool: return "a boolean";
    case JsonValue::Type::Number: return "a number";
    case JsonValue::Type::String: return "a string";
    case JsonValue::Type::Array: return "an array";
    default: return "an object";
  }
}

// JSON types are checked here (a boolean must be true/false, not 1); values then go through setField.
std::vector<double> jsonToValues(const FieldSpec& spec, const JsonValue& v) {
  const std::string name = spec.path;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) fail(code::kArgument, "config field '" + name + "' must be " + what + ", got " + typeName(v));
  };
  using T = JsonValue::Type;
  switch (spec.ref.index()) {
    case 0:
    case 1:
      expect(v.type == T::Number, "a number");
      return {v.number};
    case 2:
      expect(v.type == T::Bool, "a boolean");
      return {v.boolean ? 1.0 : 0.0};
    default: {
      expect(v.type == T::Array, "an array of numbers");
      std::vector<double> out;
      for (const auto& item : v.array) {
        if (item.type != T::Number)
          fail(code::kArgument, "config field '" + name + "' must hold only numbers, found " + typeName(item));
        out.push_back(item.number);
      }
      return out;
    }
  }
}

void collectJson(const JsonValue& object, const std::string& prefix, SamConfig& config) {
  std::map<std::string, bool> seen;
  for (const auto& [key, value] : object.object) {
    const std::string path = prefix + key;
    if (seen[path]) fail(code::kArgument, "config field '" + path + "' appears twice");
    seen[path] = true;
    if (value.type == JsonValue::Type::Object && prefix.empty() && (key == "encoder" || key == "decoder")) {
      collectJson(value, path + ".", config);
      continue;
    }
    const FieldSpec* spec = findField(path);
    if (spec == nullptr) fail(code::kArgument, "unknown config field '" + path + "'");
    setField(config, *spec, jsonToValues(*spec, value));
  }
}

}  // namespace

void validateConfig(const SamConfig& c) {
  auto check = [](bool ok, const char* field, const std::string& why) {
    if (!ok) fail(code::kArgument, std::string("config field '") + field + "' " + why);
  };
  check(c.patchSize > 0, "patch_size", "must be positive");
  check(c.imageSize > 0 && c.imageSize % c.patchSize == 0, "image_size", "must be a positive multiple of patch_size");
  check(c.encoderEmbedDim > 0, "encoder.embed_dim", "must be positive");
  check(c.encoderDepth > 0, "encoder.depth", "must be positive");
  check(c.encoderHeads > 0 && c.encoderEmbedDim % c.encoderHeads == 0, "encoder.num_heads",
        "must be positive and divide encoder.embed_dim");
  check(c.mlpRatio > 0 && static_cast<int64_t>(c.encoderEmbedDim * c.mlpRatio) > 0, "encoder.mlp_ratio",
        "must give a positive MLP width");
  check(c.windowSize >= 0, "encoder.window_size", "must be >= 0");
  for (int64_t i : c.globalAttnIndexes)
    check(i >= 0 && i < c.encoderDepth, "encoder.global_attn_indexes", "entries must lie in [0, encoder.depth)");
  check(c.encoderLnEps > 0, "encoder.layer_norm_eps", "must be positive");
  check(c.promptEmbedDim >= 8 && c.promptEmbedDim % 2 == 0, "prompt_embed_dim", "must be even and >= 8");
  check(c.maskInChans >= 4, "mask_in_chans", "must be >= 4");
  check(c.decoderDepth >= 0, "decoder.transformer_depth", "must be >= 0");
  check(c.decoderMlpDim > 0, "decoder.transformer_mlp_dim", "must be positive");
  check(c.attentionDownsampleRate > 0 && c.promptEmbedDim % c.attentionDownsampleRate == 0,
        "decoder.attention_downsample_rate", "must be positive and divide prompt_embed_dim");
  check(c.decoderHeads > 0 && c.promptEmbedDim % c.decoderHeads == 0 &&
            (c.promptEmbedDim / c.attentionDownsampleRate) % c.decoderHeads == 0,
        "decoder.transformer_num_heads", "must divide prompt_embed_dim and its downsampled width");
  check(c.numMultimaskOutputs > 0, "decoder.num_multimask_outputs", "must be positive");
  check(c.iouHeadDepth > 0, "decoder.iou_head_depth", "must be positive");
  check(c.iouHeadHiddenDim > 0, "decoder.iou_head_hidden_dim", "must be positive");
  for (double s : c.pixelStd) check(s != 0.0, "pixel_std", "must be non-zero");

  // Upper bounds, with ample room over every SAM preset (ViT-H: image 1024, width 1280, depth 32; the
  // decoder: depth 2, 3 multimask outputs, an IoU head of depth 3). The model is built synchronously, so
  // without them a typo such as depth 1e9 would block the process while memory grows without end.
  auto atMost = [&](int64_t value, int64_t limit, const char* field) {
    check(value <= limit, field, "must be at most " + std::to_string(limit) + " (got " + std::to_string(value) + ")");
  };
  atMost(c.imageSize, 4096, "image_size");
  atMost(c.encoderEmbedDim, 8192, "encoder.embed_dim");
  atMost(c.encoderDepth, 128, "encoder.depth");
  check(c.mlpRatio <= 16, "encoder.mlp_ratio", "must be at most 16");
  atMost(c.windowSize, 1024, "encoder.window_size");
  atMost(c.promptEmbedDim, 4096, "prompt_embed_dim");
  atMost(c.maskInChans, 1024, "mask_in_chans");
  atMost(c.decoderDepth, 32, "decoder.transformer_depth");
  atMost(c.decoderMlpDim, 65536, "decoder.transformer_mlp_dim");
  atMost(c.numMultimaskOutputs, 64, "decoder.num_multimask_outputs");
  atMost(c.iouHeadDepth, 32, "decoder.iou_head_depth");
  atMost(c.iouHeadHiddenDim, 65536, "decoder.iou_head_hidden_dim");
  // Each field within its bound can still multiply into an encoder no machine holds: bound the
  // weights (about (4 + 2·mlp_ratio)·width² per block, plus the position embedding) at 2.5e9, 4x ViT-H.
  const double width = static_cast<double>(c.encoderEmbedDim);
  const double grid = static_cast<double>(c.imageSize / c.patchSize);
  const double encoderWeights = static_cast<double>(c.encoderDepth) * (4 + 2 * c.mlpRatio) * width * width + grid * grid * width;
  check(encoderWeights <= 2.5e9, "encoder",
        "would hold about " + std::to_string(static_cast<int64_t>(encoderWeights / 1e6)) +
            "M weights (depth x embed_dim^2 x MLP, plus the position embedding); the limit is 2500M");
}

SamConfig presetConfig(const std::string& name) {
  SamConfig c;  // defaults are ViT-B
  if (name == "vit_b") {
    return c;
  }
  if (name == "vit_l") {
    c.encoderEmbedDim = 1024;
    c.encoderDepth = 24;
    c.encoderHeads = 16;
    c.globalAttnIndexes = {5, 11, 17, 23};
    return c;
  }
  if (name == "vit_h") {
    c.encoderEmbedDim = 1280;
    c.encoderDepth = 32;
    c.encoderHeads = 16;
    c.globalAttnIndexes = {7, 15, 23, 31};
    return c;
  }
  fail(code::kArgument, "unknown SAM preset '" + name + "' (expected vit_b, vit_l or vit_h)");
}

SamConfig configFromMap(const std::map<std::string, std::vector<double>>& fields, const SamConfig& base) {
  SamConfig config = base;
  for (const auto& [path, values] : fields) {
    const FieldSpec* spec = findField(path);
    if (spec == nullptr) fail(code::kArgument, "unknown config field '" + path + "'");
    setField(config, *spec, values);
  }
  validateConfig(config);
  return config;
}

SamConfig configFromJson(const std::string& json, const SamConfig& base) {
  JsonValue doc = JsonReader(json).document();
  if (doc.type != JsonValue::Type::Object) fail(code::kArgument, "config JSON must be an object");
  // Accept a whole fixture/metadata document that wraps the config under "config".
  for (const auto& [key, value] : doc.object) {
    if (key == "config" && value.type == JsonValue::Type::Object) {
      JsonValue inner = value;
      doc = std::move(inner);
      break;
    }
  }
  SamConfig config = base;
  collectJson(doc, "", config);
  validateConfig(config);
  return config;
}

std::string configToJson(const SamConfig& config) {
  std::ostringstream os;
  std::string group;  // the nested object currently open ("" at top level)
  bool first = true;
  os << "{";
  for (const auto& spec : fieldTable()) {
    std::string path = spec.path;
    auto dot = path.find('.');
    std::string g = dot == std::string::npos ? "" : path.substr(0, dot);
    std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
    if (g != group) {
      if (!group.empty()) {
        os << "}";
        first = false;
      }
      if (!g.empty()) {
        os << (first ? "" : ",") << "\"" << g << "\":{";
        first = true;
      }
      group = g;
    }
    os << (first ? "" : ",") << "\"" << key << "\":";
    first = false;
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(config.*member)>;
          const auto& v = config.*member;
          if constexpr (std::is_same_v<T, int64_t>) {
            os << v;
          } else if constexpr (std::is_same_v<T, double>) {
            os << formatNumber(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            os << (v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            os << "[";
            for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
            os << "]";
          } else {
            os << "[";
            for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << formatNumber(v[i]);
            os << "]";
          }
        },
        spec.ref);
  }
  if (!group.empty()) os << "}";
  os << "}";
  return os.str();
}

}  // namespace seqsam::sam
