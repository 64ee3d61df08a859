// A JS object that owns one torch::Tensor. The data stays native; JS sees shape, dtype and device.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <string>

namespace seqsam {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, torch::Tensor tensor);
  // The tensor behind a JS value, or a coded error naming `what` (ERR_ARGUMENT / ERR_DISPOSED).
  static torch::Tensor From(const Napi::Value& value, const std::string& what);
  static bool IsHandle(const Napi::Value& value);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value ByteLength(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value ToBuffer(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);

  const torch::Tensor& live(const char* operation) const;
  void release(Napi::Env env);

  torch::Tensor tensor_;
  int64_t reportedBytes_ = 0;
  bool disposed_ = false;
  bool live_ = false;  // counted in tensorStats (set once a tensor is attached)
};

// Parses "cpu", "cuda", "cuda:1"; checks that the device exists.
torch::Device parseDevice(const std::string& name, const std::string& what);

}  // namespace seqsam
