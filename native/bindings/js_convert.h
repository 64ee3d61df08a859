// Small conversions between JS values and native types, with errors that name the field at fault.
#pragma once
#include <napi.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::js {

std::string getString(const Napi::Object& obj, const char* key, const std::string& what);
double getNumber(const Napi::Object& obj, const char* key, const std::string& what);
double getNumberOr(const Napi::Object& obj, const char* key, double fallback, const std::string& what);
bool getBoolOr(const Napi::Object& obj, const char* key, bool fallback, const std::string& what);
std::vector<int64_t> getIntArray(const Napi::Object& obj, const char* key, const std::string& what);
std::vector<double> getNumberArray(const Napi::Object& obj, const char* key, const std::string& what);
Napi::Object getObject(const Napi::Object& obj, const char* key, const std::string& what);

// { name: NativeTensor } from an ordered list of named tensors.
Napi::Object namedTensors(Napi::Env env, const std::vector<std::pair<std::string, torch::Tensor>>& tensors);
std::vector<std::pair<std::string, torch::Tensor>> readNamedTensors(const Napi::Object& obj, const std::string& what);

}  // namespace seqsam::js
