#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (and UBSan) into build-asan/ — the normal build/ is untouched —
# and runs a test subset against it. Node itself is not instrumented, so the ASan runtime is preloaded.
#   scripts/sanitize.sh [test files...]     (default: the subset below)
set -euo pipefail
cd "$(dirname "$0")/.."

default_tests=(
  test/tensor.test.mjs
  test/checkpoint.test.mjs
  test/bad-input-checkpoint.test.mjs
  test/bad-input-model.test.mjs
  test/bad-input-data.test.mjs
  test/fuzz.test.mjs
  test/sam.test.mjs
  test/seqsam-training.test.mjs
  test/resources.test.mjs
  test/faults.test.mjs
)
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=("${default_tests[@]}")

# cmake-js sets CMAKE_CXX_FLAGS itself, so the sanitizer flags go into the configuration's flags.
flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
# The shared build lock keeps concurrent builds of this tree from oversubscribing the machine.
# configure first: `compile` alone keeps the flags of an existing cache.
cmake_args=(--out build-asan --config RelWithDebInfo
  "--CDCMAKE_CXX_FLAGS_RELWITHDEBINFO=${flags}" "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined")
flock /tmp/seqsam-build.lock sh -c 'npx cmake-js configure "$@" && npx cmake-js build -p "$(nproc)" "$@"' sh "${cmake_args[@]}"
binary="$PWD/build-asan/RelWithDebInfo/seqsam.node"
[ -f "$binary" ] || binary="$PWD/build-asan/Release/seqsam.node"

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
# Leak checking is off: V8 and LibTorch keep process-lifetime allocations that are not leaks; the
# resources test checks leaks of our own objects. The rest of ASan (overflows, use-after-free,
# double free) and UBSan stay fatal.
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:halt_on_error=1:alloc_dealloc_mismatch=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export SEQSAM_BINARY="$binary"
echo "sanitize: $binary with ${tests[*]}" >&2
LD_PRELOAD="$libasan $libubsan" node --expose-gc --test --test-concurrency=1 "${tests[@]}"
