// Precompiled for every translation unit: LibTorch's umbrella header dominates compile time.
#pragma once
#include <napi.h>
#include <torch/torch.h>
