// A small unpickler for the data.pkl of a torch.save archive: enough of the pickle machine for state
// dicts (nested dicts / OrderedDicts of tensors, with numbers, strings, lists and tuples around them).
// LibTorch's own unpickler rejects the `_metadata` and backward-hook objects Python writes there.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace seqsam::io {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleValue {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Object, Tensor, Storage };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;                               // String; Global: "module.name"; Storage: key
  std::vector<PickleRef> items;                   // Tuple, List; Object: constructor args
  std::vector<std::pair<PickleRef, PickleRef>> entries;  // Dict, in insertion order
  torch::Tensor tensor;                           // Tensor
  at::ScalarType storageType = at::kFloat;        // Storage
  int depth = 0;                                  // containers below this one (bounded: no deep recursion later)

  // Frees nested values with a work list: `depth` is recorded when a value is added to a container, so a
  // chain built top-down (appending to containers already nested) can be longer than it says, and a
  // recursive free of a long chain would overflow the stack.
  ~PickleValue();
};

// Deeper nesting than a state dict ever has is refused, so that walking or freeing a value never
// recurses far enough to overflow the stack.
inline constexpr int kMaxPickleDepth = 200;

// Loads the storage `key` holding `numel` elements of `type`.
using StorageLoader = std::function<torch::Tensor(const std::string& key, at::ScalarType type, int64_t numel)>;

// Runs the pickle program in `bytes`; `what` names the file in errors.
PickleRef unpickleTorch(const std::vector<uint8_t>& bytes, const StorageLoader& loadStorage, const std::string& what);

}  // namespace seqsam::io
