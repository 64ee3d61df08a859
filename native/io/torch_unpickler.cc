#include "io/torch_unpickler.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/errors.h"

namespace seqsam::io {

PickleValue::~PickleValue() {
  std::vector<PickleRef> pending;
  auto adoptChildren = [&pending](PickleValue& v) {
    // Children owned by others as well are only released (their count drops; nothing is freed here).
    for (auto& item : v.items) {
      if (item.use_count() == 1) pending.push_back(std::move(item));
    }
    for (auto& [key, value] : v.entries) {
      if (key.use_count() == 1) pending.push_back(std::move(key));
      if (value.use_count() == 1) pending.push_back(std::move(value));
    }
    v.items.clear();
    v.entries.clear();
  };
  adoptChildren(*this);
  while (!pending.empty()) {
    PickleRef next = std::move(pending.back());
    pending.pop_back();
    adoptChildren(*next);
  }  // `next` is freed here with no children left, so its destructor does not recurse
}

namespace {

using Kind = PickleValue::Kind;

PickleRef make(Kind kind) {
  auto v = std::make_shared<PickleValue>();
  v->kind = kind;
  return v;
}

PickleRef makeInt(int64_t i) {
  auto v = make(Kind::Int);
  v->integer = i;
  return v;
}

PickleRef makeString(std::string s, Kind kind = Kind::String) {
  auto v = make(kind);
  v->text = std::move(s);
  return v;
}

at::ScalarType storageScalar(const std::string& global, const std::string& what) {
  static const std::unordered_map<std::string, at::ScalarType> types{
      {"torch.FloatStorage", at::kFloat},   {"torch.DoubleStorage", at::kDouble}, {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16}, {"torch.LongStorage", at::kLong}, {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},   {"torch.CharStorage", at::kChar},     {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
  };
  auto it = types.find(global);
  require(it != types.end(), code::kCheckpoint, what + ": unsupported storage type " + global);
  return it->second;
}

class Machine {
 public:
  Machine(const std::vector<uint8_t>& bytes, const StorageLoader& loader, std::string what)
      : bytes_(bytes), loader_(loader), what_(std::move(what)) {}

  PickleRef run() {
    while (true) {
      uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                      // PROTO
        case 0x95: skip(8); break;                   // FRAME
        case '.': return pop();                      // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case 'N': push(make(Kind::None)); break;
        case 0x88: push(boolean(true)); break;       // NEWTRUE
        case 0x89: push(boolean(false)); break;      // NEWFALSE
        case 'K': push(makeInt(u8())); break;        // BININT1
        case 'M': push(makeInt(le<uint16_t>())); break;  // BININT2
        case 'J': push(makeInt(le<int32_t>())); break;   // BININT
        case 0x8a: push(makeInt(long1())); break;    // LONG1
        case 'G': push(binfloat()); break;           // BINFLOAT
        case 'X': push(makeString(str(le<uint32_t>()))); break;   // BINUNICODE
        case 0x8c: push(makeString(str(u8()))); break;            // SHORT_BINUNICODE
        case 'T': push(makeString(str(le<uint32_t>()))); break;   // BINSTRING
        case 'U': push(makeString(str(u8()))); break;             // SHORT_BINSTRING
        case 'B': push(makeString(str(le<uint32_t>()))); break;   // BINBYTES
        case 'C': push(makeString(str(u8()))); break;             // SHORT_BINBYTES
        case 'c': {                                   // GLOBAL "module\nname\n"
          std::string module = line();
          push(makeString(module + "." + line(), Kind::Global));
          break;
        }
        case 0x93: {                                  // STACK_GLOBAL
          auto name = pop();
          auto module = pop();
          push(makeString(module->text + "." + name->text, Kind::Global));
          break;
        }
        case 'q': memo(u8()); break;                  // BINPUT
        case 'r': memo(le<uint32_t>()); break;        // LONG_BINPUT
        case 0x94: memo(memo_.size()); break;         // MEMOIZE
        case 'h': push(recall(u8())); break;          // BINGET
        case 'j': push(recall(le<uint32_t>())); break;  // LONG_BINGET
        case ')': push(make(Kind::Tuple)); break;     // EMPTY_TUPLE
        case 0x85: tupleOf(1); break;                 // TUPLE1
        case 0x86: tupleOf(2); break;                 // TUPLE2
        case 0x87: tupleOf(3); break;                 // TUPLE3
        case 't': {                                   // TUPLE
          auto t = make(Kind::Tuple);
          t->items = popToMark();
          for (const auto& item : t->items) nest(t, item);
          push(t);
          break;
        }
        case ']': push(make(Kind::List)); break;      // EMPTY_LIST
        case 'l': {                                   // LIST
          auto l = make(Kind::List);
          l->items = popToMark();
          for (const auto& item : l->items) nest(l, item);
          push(l);
          break;
        }
        case 'a': {                                   // APPEND
          auto v = pop();
          nest(top(), v);
          top()->items.push_back(v);
          break;
        }
        case 'e': {                                   // APPENDS
          auto values = popToMark();
          for (const auto& v : values) nest(top(), v);
          auto& list = top()->items;
          list.insert(list.end(), values.begin(), values.end());
          break;
        }
        case '}': push(make(Kind::Dict)); break;      // EMPTY_DICT
        case 's': {                                   // SETITEM
          auto value = pop();
          auto key = pop();
          auto dict = dictOf(top());
          nest(dict, key);
          nest(dict, value);
          dict->entries.emplace_back(key, value);
          break;
        }
        case 'u': {                                   // SETITEMS
          auto values = popToMark();
          auto dict = dictOf(top());
          for (const auto& v : values) nest(dict, v);
          for (size_t i = 0; i + 1 < values.size(); i += 2) dict->entries.emplace_back(values[i], values[i + 1]);
          break;
        }
        case 'Q': {                                   // BINPERSID: ('storage', type, key, location, numel)
          auto id = pop();
          push(persistent(id));
          break;
        }
        case 'R': {                                   // REDUCE
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 0x81: {                                  // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(reduce(cls, args));
          break;
        }
        case 'b': pop(); break;                       // BUILD: object state (_metadata, ...) is not needed
        default:
          fail(code::kCheckpoint, what_ + ": unsupported pickle opcode 0x" + hex(op) + " at byte " + std::to_string(pos_ - 1));
      }
    }
  }

 private:
  const std::vector<uint8_t>& bytes_;
  const StorageLoader& loader_;
  std::string what_;
  size_t pos_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<size_t, PickleRef> memo_;
  std::unordered_map<std::string, torch::Tensor> storages_;

  static std::string hex(uint8_t b) {
    const char* digits = "0123456789abcdef";
    return {digits[b >> 4], digits[b & 15]};
  }

  void need(size_t n) {
    require(pos_ + n <= bytes_.size(), code::kCheckpoint, what_ + ": pickle data ends early (truncated file?)");
  }
  uint8_t u8() {
    need(1);
    return bytes_[pos_++];
  }
  void skip(size_t n) {
    need(n);
    pos_ += n;
  }
  template <typename T>
  T le() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(size_t n) {
    need(n);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::string line() {
    size_t end = pos_;
    while (end < bytes_.size() && bytes_[end] != '\n') ++end;
    require(end < bytes_.size(), code::kCheckpoint, what_ + ": pickle data ends early (truncated file?)");
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), end - pos_);
    pos_ = end + 1;
    return s;
  }
  int64_t long1() {
    size_t n = u8();
    require(n <= 8, code::kCheckpoint, what_ + ": integer too large in pickle");
    need(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    if (n > 0 && n < 8 && (bytes_[pos_ + n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    pos_ += n;
    return static_cast<int64_t>(v);
  }
  PickleRef binfloat() {
    need(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | bytes_[pos_ + i];  // big-endian
    pos_ += 8;
    auto v = make(Kind::Float);
    std::memcpy(&v->real, &bits, 8);
    return v;
  }
  static PickleRef boolean(bool b) {
    auto v = make(Kind::Bool);
    v->boolean = b;
    return v;
  }

  void push(PickleRef v) { stack_.push_back(std::move(v)); }
  PickleRef pop() {
    require(!stack_.empty() && (marks_.empty() || stack_.size() > marks_.back()), code::kCheckpoint, what_ + ": malformed pickle (stack underflow)");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PickleRef& top() {
    require(!stack_.empty(), code::kCheckpoint, what_ + ": malformed pickle (empty stack)");
    return stack_.back();
  }
  std::vector<PickleRef> popToMark() {
    require(!marks_.empty(), code::kCheckpoint, what_ + ": malformed pickle (no mark)");
    size_t mark = marks_.back();
    marks_.pop_back();
    require(mark <= stack_.size(), code::kCheckpoint, what_ + ": malformed pickle (bad mark)");
    std::vector<PickleRef> out(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return out;
  }
  void tupleOf(size_t n) {
    auto t = make(Kind::Tuple);
    require(stack_.size() >= n, code::kCheckpoint, what_ + ": malformed pickle (short tuple)");
    t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    for (const auto& item : t->items) nest(t, item);
    stack_.resize(stack_.size() - n);
    push(t);
  }
  void memo(size_t index) { memo_[index] = top(); }
  void nest(const PickleRef& container, const PickleRef& child) {
    container->depth = std::max(container->depth, child->depth + 1);
    require(container->depth <= kMaxPickleDepth, code::kCheckpoint,
            what_ + ": pickle nests deeper than " + std::to_string(kMaxPickleDepth) + " levels (or refers to itself); not a state dict");
  }
  PickleRef recall(size_t index) {
    auto it = memo_.find(index);
    require(it != memo_.end(), code::kCheckpoint, what_ + ": malformed pickle (memo " + std::to_string(index) + " unset)");
    return it->second;
  }
  PickleRef dictOf(const PickleRef& v) {
    // OrderedDict() and plain dicts both become Dicts.
    if (v->kind == Kind::Object && v->text == "collections.OrderedDict") v->kind = Kind::Dict;
    require(v->kind == Kind::Dict, code::kCheckpoint, what_ + ": malformed pickle (SETITEM on a non-dict)");
    return v;
  }

  PickleRef persistent(const PickleRef& id) {
    require(id->kind == Kind::Tuple && id->items.size() >= 5 && id->items[0]->text == "storage", code::kCheckpoint,
            what_ + ": unsupported persistent id (not a tensor storage)");
    auto storage = make(Kind::Storage);
    const auto& type = id->items[1];
    // torch >= 2 pickles `torch.storage.UntypedStorage`-era ids with a dtype global such as torch.FloatStorage.
    storage->storageType = storageScalar(type->text, what_);
    storage->text = id->items[2]->text;
    int64_t numel = id->items[4]->integer;
    auto found = storages_.find(storage->text);
    if (found == storages_.end()) found = storages_.emplace(storage->text, loader_(storage->text, storage->storageType, numel)).first;
    storage->tensor = found->second;
    return storage;
  }

  std::vector<int64_t> ints(const PickleRef& tuple, const char* field) {
    require(tuple->kind == Kind::Tuple, code::kCheckpoint, what_ + ": tensor " + field + " is not a tuple");
    std::vector<int64_t> out;
    for (const auto& item : tuple->items) {
      require(item->kind == Kind::Int, code::kCheckpoint, what_ + ": tensor " + field + " holds a non-integer");
      out.push_back(item->integer);
    }
    return out;
  }

  PickleRef reduce(const PickleRef& callable, const PickleRef& args) {
    const std::string& name = callable->text;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      require(args->items.size() >= 4 && args->items[0]->kind == Kind::Storage, code::kCheckpoint,
              what_ + ": malformed tensor record");
      const auto& storage = args->items[0]->tensor;
      require(args->items[1]->kind == Kind::Int && args->items[1]->integer >= 0, code::kCheckpoint,
              what_ + ": tensor storage offset is not a non-negative integer");
      int64_t offset = args->items[1]->integer;
      auto size = ints(args->items[2], "size");
      auto stride = ints(args->items[3], "stride");
      require(size.size() == stride.size(), code::kCheckpoint, what_ + ": tensor size and stride disagree");
      require(size.size() <= 64, code::kCheckpoint, what_ + ": tensor has " + std::to_string(size.size()) + " dimensions");
      // Declared sizes are untrusted: every product and sum is checked for overflow before use.
      int64_t last = offset;
      for (size_t i = 0; i < size.size(); ++i) {
        require(size[i] >= 0 && stride[i] >= 0, code::kCheckpoint, what_ + ": negative tensor size or stride");
        int64_t reach = 0;
        bool overflow = size[i] > 0 && (__builtin_mul_overflow(size[i] - 1, stride[i], &reach) || __builtin_add_overflow(last, reach, &last));
        require(!overflow, code::kCheckpoint, what_ + ": tensor size/stride overflow (declared sizes are not real)");
      }
      bool empty = std::find(size.begin(), size.end(), 0) != size.end();
      require(empty || last < storage.numel(), code::kCheckpoint,
              what_ + ": tensor view reaches past its storage (" + std::to_string(last + 1) + " > " + std::to_string(storage.numel()) + " elements)");
      auto v = make(Kind::Tensor);
      v->tensor = storage.as_strided(size, stride, offset);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter") {
      require(!args->items.empty() && args->items[0]->kind == Kind::Tensor, code::kCheckpoint, what_ + ": malformed parameter record");
      return args->items[0];
    }
    if (name == "collections.OrderedDict" || name == "builtins.dict") return make(Kind::Dict);
    // Anything else (e.g. argparse.Namespace in a training checkpoint) is kept as an opaque object.
    auto v = make(Kind::Object);
    v->text = name;
    v->items = args->items;
    for (const auto& item : v->items) nest(v, item);
    return v;
  }
};

}  // namespace

PickleRef unpickleTorch(const std::vector<uint8_t>& bytes, const StorageLoader& loadStorage, const std::string& what) {
  Machine machine(bytes, loadStorage, what);
  return machine.run();
}

}  // namespace seqsam::io
