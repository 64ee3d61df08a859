#include "seqsam/decay_exemption.h"

#include "core/errors.h"

namespace seqsam::seq {

DecayExemption parseDecayExemption(const std::string& name) {
  if (name == "none") return DecayExemption::None;
  if (name == "bias-and-norm") return DecayExemption::BiasAndNorm;
  fail(code::kArgument, "decayExempt must be 'none' or 'bias-and-norm' (got '" + name + "')");
}

namespace {

// The last dotted component of `path`, and the one before it ("" when absent).
std::pair<std::string, std::string> lastTwoComponents(const std::string& path) {
  const size_t last = path.rfind('.');
  if (last == std::string::npos) return {"", path};
  const size_t before = last == 0 ? std::string::npos : path.rfind('.', last - 1);
  const std::string owner = before == std::string::npos ? path.substr(0, last) : path.substr(before + 1, last - before - 1);
  return {owner, path.substr(last + 1)};
}

}  // namespace

bool isDecayExempt(const std::string& parameterName, DecayExemption rule) {
  if (rule == DecayExemption::None) return false;
  auto [owner, leaf] = lastTwoComponents(parameterName);
  if (leaf == "bias") return true;
  // A LayerNorm module of the SAM transformer is registered as norm1..norm4 or norm_final_attn.
  return owner.rfind("norm", 0) == 0;
}

}  // namespace seqsam::seq
