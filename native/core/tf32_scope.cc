#include "core/tf32_scope.h"

#include <ATen/Context.h>

#include <mutex>

namespace seqsam {

namespace {

std::mutex tf32Mutex;
int openScopes = 0;  // guarded by tf32Mutex
bool previousCublas = false;
bool previousCudnn = true;

}  // namespace

Tf32Scope::Tf32Scope(bool on) : on_(on) {
  if (!on_) return;
  std::lock_guard<std::mutex> lock(tf32Mutex);
  if (openScopes++ > 0) return;
  auto& context = at::globalContext();
  // torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32: these four calls are in
  // LibTorch 1.13 and still in 2.x (where they map onto its per-backend float32 precision settings).
  previousCublas = context.allowTF32CuBLAS();
  previousCudnn = context.allowTF32CuDNN();
  context.setAllowTF32CuBLAS(true);
  context.setAllowTF32CuDNN(true);
}

Tf32Scope::~Tf32Scope() {
  if (!on_) return;
  std::lock_guard<std::mutex> lock(tf32Mutex);
  if (--openScopes > 0) return;
  auto& context = at::globalContext();
  context.setAllowTF32CuBLAS(previousCublas);
  context.setAllowTF32CuDNN(previousCudnn);
}

bool tf32Active() {
  std::lock_guard<std::mutex> lock(tf32Mutex);
  return openScopes > 0;
}

}  // namespace seqsam
