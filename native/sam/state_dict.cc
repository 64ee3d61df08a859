#include "sam/state_dict.h"

#include <map>
#include <sstream>

#include "core/errors.h"

namespace seqsam::sam {

std::vector<std::pair<std::string, torch::Tensor>> stateDict(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

void loadStateDict(torch::nn::Module& module, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                   bool strict) {
  std::map<std::string, torch::Tensor> targets;
  for (auto& [name, tensor] : stateDict(module)) targets.emplace(name, tensor);

  std::vector<std::string> unexpected, mismatched, duplicated;
  std::map<std::string, const torch::Tensor*> sources;
  for (const auto& [name, tensor] : tensors) {
    if (!sources.emplace(name, &tensor).second) {
      duplicated.push_back(name);
      continue;
    }
    auto it = targets.find(name);
    if (it == targets.end()) {
      unexpected.push_back(name);
    } else if (!tensor.defined() || tensor.sizes() != it->second.sizes()) {
      mismatched.push_back(name + " (checkpoint " + (tensor.defined() ? c10::str(tensor.sizes()) : "undefined") +
                           ", model " + c10::str(it->second.sizes()) + ")");
    }
  }
  std::vector<std::string> missing;
  for (const auto& [name, tensor] : targets)
    if (!sources.count(name)) missing.push_back(name);

  auto list = [](std::ostringstream& os, const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    os << (os.tellp() > 0 ? "; " : "") << what << " (" << names.size() << "): ";
    for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  };
  std::ostringstream problems;
  if (strict) {
    list(problems, "missing keys", missing);
    list(problems, "unexpected keys", unexpected);
  }
  list(problems, "shape mismatches", mismatched);
  list(problems, "duplicated keys", duplicated);
  if (problems.tellp() > 0) fail(code::kCheckpoint, "checkpoint does not fit the model: " + problems.str());

  torch::NoGradGuard noGrad;
  for (const auto& [name, source] : sources) {
    auto it = targets.find(name);
    if (it != targets.end()) it->second.copy_(*source);
  }
}

}  // namespace seqsam::sam
