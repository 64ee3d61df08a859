#include "bindings/js_convert.h"

#include "core/errors.h"
#include "core/tensor_handle.h"

namespace seqsam::js {

namespace {
std::string field(const std::string& what, const char* key) { return what + "." + key; }
}  // namespace

std::string getString(const Napi::Object& obj, const char* key, const std::string& what) {
  Napi::Value v = obj.Get(key);
  require(v.IsString(), code::kArgument, field(what, key) + " must be a string");
  return v.As<Napi::String>();
}

double getNumber(const Napi::Object& obj, const char* key, const std::string& what) {
  Napi::Value v = obj.Get(key);
  require(v.IsNumber(), code::kArgument, field(what, key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

double getNumberOr(const Napi::Object& obj, const char* key, double fallback, const std::string& what) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  require(v.IsNumber(), code::kArgument, field(what, key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool getBoolOr(const Napi::Object& obj, const char* key, bool fallback, const std::string& what) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  require(v.IsBoolean(), code::kArgument, field(what, key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::vector<double> getNumberArray(const Napi::Object& obj, const char* key, const std::string& what) {
  Napi::Value v = obj.Get(key);
  require(v.IsArray(), code::kArgument, field(what, key) + " must be an array of numbers");
  auto arr = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    require(e.IsNumber(), code::kArgument, field(what, key) + "[" + std::to_string(i) + "] must be a number");
    out.push_back(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

std::vector<int64_t> getIntArray(const Napi::Object& obj, const char* key, const std::string& what) {
  std::vector<int64_t> out;
  for (double d : getNumberArray(obj, key, what)) {
    require(d == static_cast<double>(static_cast<int64_t>(d)), code::kArgument, field(what, key) + " must hold integers");
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

Napi::Object getObject(const Napi::Object& obj, const char* key, const std::string& what) {
  Napi::Value v = obj.Get(key);
  require(v.IsObject(), code::kArgument, field(what, key) + " must be an object");
  return v.As<Napi::Object>();
}

Napi::Object namedTensors(Napi::Env env, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [name, tensor] : tensors) {
    // Names are file contents: the key is the whole name (a NUL inside does not end it), defined as an own
    // property, so '__proto__' is a tensor like any other rather than a new prototype.
    Napi::String key = Napi::String::New(env, name.data(), name.size());
    out.DefineProperty(Napi::PropertyDescriptor::Value(key, TensorHandle::Wrap(env, tensor), napi_default_jsproperty));
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> readNamedTensors(const Napi::Object& obj, const std::string& what) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  Napi::Array names = obj.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    Napi::Value key = names.Get(i);
    std::string name = key.As<Napi::String>();
    out.emplace_back(name, TensorHandle::From(obj.Get(key), what + "['" + name + "']"));
  }
  return out;
}

}  // namespace seqsam::js
