#include "io/pickle_checkpoint.h"

#include <caffe2/serialize/inline_container.h>

#include <cstdio>
#include <unordered_set>

#include "core/errors.h"
#include "io/torch_unpickler.h"

namespace seqsam::io {

namespace {

// What flattening may produce: far beyond any real state dict (SAM ViT-H has ~600 tensors), far below
// what a small hostile pickle could otherwise ask for by reaching one dict from many places.
constexpr size_t kMaxStateDictEntries = 1'000'000;
constexpr size_t kMaxStateDictNameBytes = size_t{256} << 20;

class StateDictFlattener {
 public:
  StateDictFlattener(std::vector<std::pair<std::string, torch::Tensor>>& out, const std::string& path) : out_(out), path_(path) {}

  void flatten(const PickleRef& value, const std::string& prefix, int depth = 0) {
    // A dict that contains itself would otherwise recurse forever.
    require(depth <= kMaxPickleDepth, code::kCheckpoint, path_ + ": the state dict refers to itself or nests too deeply");
    if (value->kind == PickleValue::Kind::Tensor) {
      nameBytes_ += prefix.size();
      require(nameBytes_ <= kMaxStateDictNameBytes, code::kCheckpoint,
              path_ + ": the state dict's tensor names exceed " + std::to_string(kMaxStateDictNameBytes >> 20) + " MiB; not a state dict");
      out_.emplace_back(prefix, value->tensor);
    } else if (value->kind == PickleValue::Kind::Dict) {
      // A state dict is a tree: one dict reached twice (through the pickle memo) would repeat every name
      // below it, doubling with each level, so it is refused rather than enumerated.
      const std::string where = "'" + (prefix.empty() ? std::string("<root>") : prefix) + "'";
      require(!onPath_.count(value.get()), code::kCheckpoint, path_ + ": the state dict refers to itself (the dict at " + where + " contains itself)");
      require(visited_.insert(value.get()).second, code::kCheckpoint,
              path_ + ": the dict at " + where + " is also reached from another place (a shared sub-structure); a state dict is a tree");
      onPath_.insert(value.get());
      for (const auto& [key, item] : value->entries) {
        require(++entries_ <= kMaxStateDictEntries, code::kCheckpoint,
                path_ + ": the state dict has more than " + std::to_string(kMaxStateDictEntries) + " entries; not a state dict");
        if (key->kind != PickleValue::Kind::String) continue;
        flatten(item, prefix.empty() ? key->text : prefix + "." + key->text, depth + 1);
      }
      onPath_.erase(value.get());
    }
  }

 private:
  std::vector<std::pair<std::string, torch::Tensor>>& out_;
  const std::string& path_;
  std::unordered_set<const PickleValue*> visited_;
  std::unordered_set<const PickleValue*> onPath_;  // the dicts from the root down to the one being read
  size_t entries_ = 0;
  size_t nameBytes_ = 0;
};

std::string describe(const PickleRef& value) {
  switch (value->kind) {
    case PickleValue::Kind::Object: return "an object of class " + value->text;
    case PickleValue::Kind::Global: return "a reference to " + value->text;
    case PickleValue::Kind::Dict: return "a dict without tensors";
    case PickleValue::Kind::List: return "a list";
    case PickleValue::Kind::Tuple: return "a tuple";
    case PickleValue::Kind::Tensor: return "a single tensor";
    default: return "a plain value";
  }
}

// {"model": sd} / {"state_dict": sd} wrappers (training checkpoints) unwrap to the state dict.
PickleRef unwrapStateDict(const PickleRef& root) {
  if (root->kind != PickleValue::Kind::Dict) return root;
  for (const char* wrapper : {"state_dict", "model", "model_state_dict"}) {
    for (const auto& [key, item] : root->entries) {
      if (key->kind == PickleValue::Kind::String && key->text == wrapper && item->kind == PickleValue::Kind::Dict) return item;
    }
  }
  return root;
}

bool startsWithZipMagic(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  require(f != nullptr, code::kIo, path + ": cannot open");
  unsigned char magic[4] = {0, 0, 0, 0};
  size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  require(n > 0, code::kCheckpoint, path + ": file is empty");
  if (magic[0] == 0x80) {
    fail(code::kCheckpoint, path + ": a legacy (pre-1.6) torch pickle; re-save it with torch.save in a current PyTorch");
  }
  return n == 4 && magic[0] == 'P' && magic[1] == 'K';
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> readTorchCheckpoint(const std::string& path) {
  require(startsWithZipMagic(path), code::kCheckpoint, path + ": not a torch.save zip archive");
  std::vector<std::pair<std::string, torch::Tensor>> out;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    auto [pickleData, pickleSize] = reader.getRecord("data.pkl");
    const auto* begin = static_cast<const uint8_t*>(pickleData.get());
    std::vector<uint8_t> pickle(begin, begin + pickleSize);
    auto loadStorage = [&](const std::string& key, at::ScalarType type, int64_t numel) -> torch::Tensor {
      std::string record = "data/" + key;
      require(reader.hasRecord(record), code::kCheckpoint, path + ": storage '" + key + "' is missing from the archive");
      auto [data, bytes] = reader.getRecord(record);
      size_t itemSize = c10::elementSize(type);
      require(bytes == static_cast<size_t>(numel) * itemSize, code::kCheckpoint,
              path + ": storage '" + key + "' holds " + std::to_string(bytes) + " bytes, expected " + std::to_string(numel * itemSize));
      torch::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(type));
      std::memcpy(t.data_ptr(), data.get(), bytes);
      return t;
    };
    PickleRef root = unwrapStateDict(unpickleTorch(pickle, loadStorage, path));
    StateDictFlattener(out, path).flatten(root, "");
    require(!out.empty(), code::kCheckpoint, path + ": holds no tensors (its pickle is " + describe(root) + ", not a state dict)");
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    fail(code::kCheckpoint, path + ": not a readable torch.save archive (" + e.what_without_backtrace() + ")");
  }
  require(!out.empty(), code::kCheckpoint, path + ": holds no tensors");
  // Views of shared storages become tensors of their own (what a state dict means).
  for (auto& [name, tensor] : out) tensor = tensor.contiguous();
  return out;
}

}  // namespace seqsam::io
