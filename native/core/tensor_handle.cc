#include "core/tensor_handle.h"

#include <atomic>

#include "core/addon_data.h"
#include "core/async_task.h"
#include "core/dtype.h"
#include "core/errors.h"
#include "core/js_errors.h"

namespace seqsam {

namespace {
// Live handles and the CPU bytes they hold, for leak checks (`tensorStats()`).
std::atomic<int64_t> liveHandles{0};
std::atomic<int64_t> liveBytes{0};

int64_t nativeBytes(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0;
}

const char* typedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

// The element type a typed array's bytes are read as. `dtype` (Tensor.from's option) may only choose
// between readings of the same bytes (bool for a Uint8Array, bfloat16 for a Uint16Array); anything else
// would silently mean a different tensor, so it is refused rather than ignored.
at::ScalarType typedArrayScalar(napi_typedarray_type type, const std::string& dtype) {
  std::vector<std::pair<std::string, at::ScalarType>> readings;
  switch (type) {
    case napi_float32_array: readings = {{"float32", at::kFloat}}; break;
    case napi_float64_array: readings = {{"float64", at::kDouble}}; break;
    case napi_int8_array: readings = {{"int8", at::kChar}}; break;
    case napi_uint8_array:
    case napi_uint8_clamped_array: readings = {{"uint8", at::kByte}, {"bool", at::kBool}}; break;
    case napi_int16_array: readings = {{"int16", at::kShort}}; break;
    case napi_uint16_array: readings = {{"float16", at::kHalf}, {"bfloat16", at::kBFloat16}}; break;
    case napi_int32_array: readings = {{"int32", at::kInt}}; break;
    case napi_bigint64_array: readings = {{"int64", at::kLong}}; break;
    default: fail(code::kArgument, std::string("Tensor.from: a ") + typedArrayName(type) + " has no tensor dtype");
  }
  std::string allowed;
  for (const auto& [name, scalar] : readings) {
    if (name == dtype) return scalar;
    allowed += (allowed.empty() ? "'" : " or '") + name + "'";
  }
  fail(code::kArgument, "Tensor.from: options.dtype '" + dtype + "' does not fit a " + typedArrayName(type) + " (its elements are " +
                            allowed + "); pass data of that type, or convert afterwards with tensor.to({ dtype })");
}
}  // namespace

torch::Device parseDevice(const std::string& name, const std::string& what) {
  torch::Device device(torch::kCPU);
  try {
    device = torch::Device(name);
  } catch (const c10::Error&) {
    fail(code::kDevice, what + ": unknown device '" + name + "' (use 'cpu' or 'cuda[:N]')");
  }
  if (device.is_cuda()) {
    require(torch::cuda::is_available(), code::kDevice, what + ": device '" + name + "' requested but CUDA is not available in this build/machine");
    require(!device.has_index() || device.index() < static_cast<int>(torch::cuda::device_count()), code::kDevice,
            what + ": device '" + name + "' does not exist");
  } else {
    require(device.is_cpu(), code::kDevice, what + ": unsupported device '" + name + "'");
  }
  return device;
}

void TensorHandle::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeTensor",
                                    {
                                        InstanceAccessor<&TensorHandle::Shape>("shape"),
                                        InstanceAccessor<&TensorHandle::Dtype>("dtype"),
                                        InstanceAccessor<&TensorHandle::Device>("device"),
                                        InstanceAccessor<&TensorHandle::ByteLength>("byteLength"),
                                        InstanceAccessor<&TensorHandle::Disposed>("disposed"),
                                        InstanceMethod<&TensorHandle::Dispose>("dispose"),
                                        InstanceMethod<&TensorHandle::ToBuffer>("toBuffer"),
                                        InstanceMethod<&TensorHandle::To>("to"),
                                    });
  addonData(env).tensorConstructor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  exports.Set("tensorStats", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("live", static_cast<double>(liveHandles.load()));
    out.Set("bytes", static_cast<double>(liveBytes.load()));
    return out;
  }));

  // fromTypedArray(view, shape, dtype, device) -> NativeTensor (copies the bytes)
  exports.Set("tensorFromTypedArray", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      require(info.Length() >= 4 && info[0].IsTypedArray() && info[1].IsArray() && info[2].IsString() && info[3].IsString(),
              code::kArgument, "Tensor.from(data, shape, options): data must be a typed array and shape an array");
      auto view = info[0].As<Napi::TypedArray>();
      std::string dtypeHint = info[2].As<Napi::String>();
      at::ScalarType type = typedArrayScalar(view.TypedArrayType(), dtypeHint);
      auto shapeArray = info[1].As<Napi::Array>();
      std::vector<int64_t> shape;
      int64_t count = 1;
      for (uint32_t i = 0; i < shapeArray.Length(); ++i) {
        Napi::Value dim = shapeArray.Get(i);
        require(dim.IsNumber(), code::kShape, "Tensor.from: shape[" + std::to_string(i) + "] is not a number");
        double d = dim.As<Napi::Number>().DoubleValue();
        require(d >= 0 && d == static_cast<double>(static_cast<int64_t>(d)), code::kShape,
                "Tensor.from: shape[" + std::to_string(i) + "] must be a non-negative integer");
        shape.push_back(static_cast<int64_t>(d));
        count *= shape.back();
      }
      require(static_cast<size_t>(count) == view.ElementLength(), code::kShape,
              "Tensor.from: shape [" + c10::Join(", ", shape) + "] holds " + std::to_string(count) +
                  " elements but the data has " + std::to_string(view.ElementLength()));
      torch::Device device = parseDevice(info[3].As<Napi::String>(), "Tensor.from");
      // The element pointer straight from the view: it also works for views of a SharedArrayBuffer, which
      // Napi::ArrayBuffer refuses ("Invalid argument").
      void* data = nullptr;
      napi_status status = napi_get_typedarray_info(env, view, nullptr, nullptr, &data, nullptr, nullptr);
      require(status == napi_ok && (data != nullptr || count == 0), code::kArgument, "Tensor.from: cannot read the typed array's memory");
      auto* bytes = static_cast<uint8_t*>(data);
      if (type == at::kBool) {
        // A bool tensor's byte is 0 or 1; any other byte is neither false nor true to LibTorch's kernels.
        for (int64_t i = 0; i < count; ++i) {
          require(bytes[i] <= 1, code::kArgument,
                  "Tensor.from: dtype 'bool' takes bytes 0 and 1, but element " + std::to_string(i) + " is " + std::to_string(bytes[i]) +
                      " (compare first, e.g. data.map((v) => (v > 0 ? 1 : 0)))");
        }
      }
      torch::Tensor t = torch::from_blob(bytes, shape, torch::TensorOptions().dtype(type)).to(device, /*non_blocking=*/false, /*copy=*/true);
      return Wrap(env, t);
    });
  }));
}

Napi::Object TensorHandle::Wrap(Napi::Env env, torch::Tensor tensor) {
  Napi::Object obj = addonData(env).tensorConstructor.New({});
  TensorHandle* self = Napi::ObjectWrap<TensorHandle>::Unwrap(obj);
  self->tensor_ = std::move(tensor);
  self->reportedBytes_ = nativeBytes(self->tensor_);
  self->live_ = true;
  liveHandles += 1;
  liveBytes += self->reportedBytes_;
  if (self->reportedBytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, self->reportedBytes_);
  return obj;
}

bool TensorHandle::IsHandle(const Napi::Value& value) {
  if (!value.IsObject()) return false;
  return value.As<Napi::Object>().InstanceOf(addonData(value.Env()).tensorConstructor.Value());
}

torch::Tensor TensorHandle::From(const Napi::Value& value, const std::string& what) {
  Napi::Value v = value;
  // Accept the TS wrapper too: it keeps its native handle under `handle`.
  if (v.IsObject() && !IsHandle(v) && v.As<Napi::Object>().Has("handle")) v = v.As<Napi::Object>().Get("handle");
  require(IsHandle(v), code::kArgument, what + " must be a Tensor");
  TensorHandle* self = Napi::ObjectWrap<TensorHandle>::Unwrap(v.As<Napi::Object>());
  require(!self->disposed_, code::kDisposed, what + " was disposed");
  return self->tensor_;
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() {
  // Finalizer path (a handle JS forgot): give back what V8 was told about.
  if (!disposed_ && live_) {
    liveHandles -= 1;
    liveBytes -= reportedBytes_;
  }
  // A destructor must not throw: during a worker's teardown the status is ignored (node-addon-api's wrapper
  // would throw a Napi::Error out of this noexcept destructor and abort the process).
  int64_t ignored = 0;
  if (reportedBytes_ > 0) napi_adjust_external_memory(Env(), -reportedBytes_, &ignored);
}

const torch::Tensor& TensorHandle::live(const char* operation) const {
  require(!disposed_, code::kDisposed, std::string("Tensor.") + operation + ": the tensor was disposed");
  return tensor_;
}

void TensorHandle::release(Napi::Env env) {
  if (disposed_) return;
  disposed_ = true;
  tensor_ = torch::Tensor();
  if (live_) {
    liveHandles -= 1;
    liveBytes -= reportedBytes_;
  }
  if (reportedBytes_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -reportedBytes_);
  reportedBytes_ = 0;
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const auto& t = live("shape");
    Napi::Array shape = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return shape;
  });
}

Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), dtypeName(live("dtype").scalar_type())); });
}

Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), live("device").device().str()); });
}

Napi::Value TensorHandle::ByteLength(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const auto& t = live("byteLength");
    return Napi::Number::New(info.Env(), static_cast<double>(t.numel() * t.element_size()));
  });
}

Napi::Value TensorHandle::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

// toBuffer() -> Promise<ArrayBuffer>: a contiguous CPU copy, made off the JS thread.
Napi::Value TensorHandle::ToBuffer(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    torch::Tensor t = live("toTypedArray");
    return runAsync(info.Env(), [t]() -> Finish {
      auto* cpu = new torch::Tensor(t.to(torch::kCPU).contiguous().clone());
      return [cpu](Napi::Env env) -> Napi::Value {
        size_t bytes = cpu->numel() * cpu->element_size();
        if (bytes == 0) {
          delete cpu;
          return Napi::ArrayBuffer::New(env, 0);
        }
        return Napi::ArrayBuffer::New(env, cpu->data_ptr(), bytes, [](Napi::Env, void*, torch::Tensor* owner) { delete owner; }, cpu);
      };
    });
  });
}

// to(device?, dtype?) -> Promise<NativeTensor>
Napi::Value TensorHandle::To(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    torch::Tensor t = live("to");
    torch::Device device = t.device();
    at::ScalarType type = t.scalar_type();
    if (info.Length() > 0 && info[0].IsString()) device = parseDevice(info[0].As<Napi::String>(), "Tensor.to");
    if (info.Length() > 1 && info[1].IsString()) type = parseDtype(info[1].As<Napi::String>(), "Tensor.to");
    return runAsync(info.Env(), [t, device, type]() -> Finish {
      torch::Tensor out = t.to(device, type, /*non_blocking=*/false, /*copy=*/true);
      return [out](Napi::Env env) -> Napi::Value { return Wrap(env, out); };
    });
  });
}

}  // namespace seqsam
