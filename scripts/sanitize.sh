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
  test/sam.test.mjs
  test/seqsam-training.test.mjs
  test/resources.test.mjs
)
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=("${default_tests[@]}")

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
# The shared build lock keeps concurrent builds of this tree from oversubscribing the machine.
flock /tmp/seqsam-build.lock npx cmake-js compile --out build-asan --config RelWithDebInfo -p "$(nproc)" \
  "--CDCMAKE_CXX_FLAGS=${flags}" "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined"
binary="$PWD/build-asan/RelWithDebInfo/seqsam.node"
[ -f "$binary" ] || binary="$PWD/build-asan/Release/seqsam.node"

libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
# Leak checking is off: V8 and LibTorch keep process-lifetime allocations that are not leaks; the
# resources test checks leaks of our own objects. The rest of ASan (overflows, use-after-free,
# double free) and UBSan stay fatal.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:alloc_dealloc_mismatch=0:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export SEQSAM_BINARY="$binary"
echo "sanitize: $binary with ${tests[*]}" >&2
LD_PRELOAD="$libasan $libubsan" node --expose-gc --test --test-concurrency=1 "${tests[@]}"
