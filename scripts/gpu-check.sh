#!/usr/bin/env bash
# The one-call GPU check (see ../shared/gpu/README.md): build the addon with CUDA against the GPU machine's
# PyTorch LibTorch, run the test suite with CUDA available, then the benchmark; logs and results go to $OUT.
#
# Two halves:
#   bash scripts/gpu-check.sh --stage   here (no GPU): puts into .gpu/ (git-ignored) what that machine lacks —
#                                        the Node binary, the N-API headers, and runtime.tar.xz holding dist/,
#                                        the runtime node_modules (no typescript, @types, cmake-js) and the
#                                        test fixtures (../shared/fixtures, which does not travel).
#   bash scripts/gpu-check.sh            there: the run, with `.gpu` carried. Fits in 8 minutes: every step
#                                        has a timeout inside one overall deadline (GPU_CHECK_SECONDS, 470).
# Results in $OUT: summary.txt, gpu-check.log, build.log, info.json, test-gpu.tap, bench.json, test.tap.
# Order: what matters most first (build, GPU tests, bench), the rest of the suite last, all within the deadline.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

stage() {
  set -e
  # ../shared/gpu/stage.sh stages this machine's Node binary and the N-API headers into .gpu/.
  if [[ -f ../shared/gpu/stage.sh ]]; then
    bash ../shared/gpu/stage.sh
  else
    mkdir -p .gpu/include
    local node_bin
    node_bin=$(readlink -f "$(command -v node)")
    [[ -f .gpu/node.xz && ! "$node_bin" -nt .gpu/node.xz ]] || { xz -T0 -6 -c "$node_bin" > .gpu/node.xz.tmp && mv .gpu/node.xz.tmp .gpu/node.xz; }
    for d in node_modules/node-api-headers/include node_modules/node-addon-api; do
      [[ -d $d ]] && cp "$d"/*.h .gpu/include/
    done
  fi
  # The compiled JS, current (under the lock other builds of this checkout take).
  flock /tmp/seqsam-tsc.lock node node_modules/typescript/bin/tsc -p tsconfig.json
  # The runtime dependency closure (what dist/ imports, plus node-addon-api for CMake), resolved like Node.
  local list
  list=$(node -e '
    const fs = require("fs"), path = require("path");
    const root = process.cwd(), seen = new Set();
    function visit(name, from) {
      for (let dir = from; ; dir = path.dirname(dir)) {
        const p = path.join(dir, "node_modules", name);
        if (fs.existsSync(path.join(p, "package.json"))) {
          if (seen.has(p)) return;
          seen.add(p);
          const pj = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"));
          for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(d, p);
          return;
        }
        if (dir === root || dir === path.dirname(dir)) return;
      }
    }
    const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    for (const d of Object.keys(pkg.dependencies)) if (d !== "cmake-js") visit(d, root);
    console.log([...seen].map((p) => path.relative(root, p)).join("\n"));')
  local shared="$root/../shared"
  [[ -d $shared/fixtures ]] || { echo "gpu-check: $shared/fixtures is missing" >&2; exit 1; }
  # shellcheck disable=SC2086
  tar -cf - dist $list -C "$shared" fixtures | xz -T0 -6 > .gpu/runtime.tar.xz.tmp
  mv .gpu/runtime.tar.xz.tmp .gpu/runtime.tar.xz
  du -sh .gpu/node.xz .gpu/runtime.tar.xz && du -sh .gpu
  local bytes
  bytes=$(du -cb .gpu/node.xz .gpu/runtime.tar.xz .gpu/include | tail -1 | cut -f1)
  ((bytes < 60 * 1024 * 1024)) || { echo "gpu-check: .gpu holds $bytes bytes, over what a run carries (64 MiB)" >&2; exit 1; }
  echo "gpu-check: staged. On the GPU machine: bash scripts/gpu-check.sh   (carry: .gpu)"
}

if [[ ${1:-} == --stage ]]; then
  stage
  exit
fi

OUT=${OUT:-$root/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-470}))
failures=()
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
# A step's timeout: its cap (times GPU_CHECK_STEP_SCALE, for rehearsals on slow machines), within the deadline.
left() { local cap=$(($1 * ${GPU_CHECK_STEP_SCALE:-1})) s=$((deadline - SECONDS)); ((s > cap)) && s=$cap; ((s < 5)) && s=5; echo "$s"; }
step() { echo; echo "=== $* (t=${SECONDS}s)"; }
: > "$OUT/summary.txt"

step "tools"
# This half replaces dist/ and node_modules/ with the staged ones: on a machine without a GPU it runs only as
# a rehearsal (GPU_CHECK_ALLOW_CPU=1), and then in a scratch copy of the checkout.
if ! command -v nvidia-smi > /dev/null && [[ ${GPU_CHECK_ALLOW_CPU:-} != 1 ]]; then
  summary "FAIL: no nvidia-smi here; this is the GPU machine's half (GPU_CHECK_ALLOW_CPU=1 rehearses it, in a copy)"
  exit 1
fi
[[ -f .gpu/node.xz && -f .gpu/runtime.tar.xz ]] || { summary "FAIL: .gpu/ is not staged (bash scripts/gpu-check.sh --stage, then carry .gpu)"; exit 1; }
xz -dc .gpu/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
rm -rf .gpu/dist .gpu/node_modules .gpu/fixtures
tar -xJf .gpu/runtime.tar.xz -C .gpu && rm -rf dist node_modules && mv .gpu/dist dist && mv .gpu/node_modules node_modules ||
  { summary "FAIL: unpacking .gpu/runtime.tar.xz"; exit 1; }
# The tests read ../shared/fixtures (relative to the checkout).
[[ -e ../shared/fixtures ]] || { mkdir -p ../shared && ln -s "$root/.gpu/fixtures" ../shared/fixtures; }
Torch_DIR=${Torch_DIR:-$(python3 -c "import torch,os;print(os.path.join(torch.utils.cmake_prefix_path,'Torch'))")}
export Torch_DIR
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0a}
# pip's PyTorch links NCCL from the nvidia-nccl package, whose include/ holds the nccl.h CMake looks for.
if [[ -z ${NCCL_INCLUDE_DIR:-} ]]; then
  NCCL_INCLUDE_DIR=$(python3 -c "import os, nvidia.nccl as m; print(os.path.join(list(m.__path__)[0], 'include'))" 2> /dev/null || true)
  export NCCL_INCLUDE_DIR
fi
torch_version=$(python3 -c "import torch;print(torch.__version__, torch.version.cuda)")
nvcc_path=$(command -v nvcc || true)
summary "node $(node --version); torch $torch_version; nvcc ${nvcc_path:-missing}; TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true; } | sed 's/^/gpu: /' | tee -a "$OUT/summary.txt"

step "the .cu files alone (nvcc -c)"
if timeout "$(left 60)" node scripts/compile-cuda.mjs --require-nvcc; then summary "ok: nvcc standalone compile"; else failures+=(nvcc-standalone); summary "FAIL: nvcc standalone compile"; fi

step "configure + build (CUDA LibTorch)"
build_ok=0
# build NEWEST(ON|OFF): configure and build; the CUDA graphs (native/cuda/cuda_graph.cc), the fused optimizer
# (native/seqsam/adamw_fused.cc) and the NCCL process groups (native/distributed/) are the code newest against
# this LibTorch's API, so a build that fails with them is retried without them (SEQSAM_CUDA_GRAPHS,
# SEQSAM_FUSED_OPTIMIZER, SEQSAM_NCCL) and the rest still runs.
build() {
  timeout "$(left 240)" bash -c '
    cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$1" -DCMAKE_JS_INC="$2/.gpu/include" -DSEQSAM_CUDA_GRAPHS="$3" -DSEQSAM_FUSED_OPTIMIZER="$3" -DSEQSAM_NCCL="$3" &&
    cmake --build build-cuda -j"${GPU_CHECK_JOBS:-16}"' _ "$nvcc_path" "$root" "$1" > "$OUT/build.log" 2>&1
}
if build ON; then
  build_ok=1
else
  mv "$OUT/build.log" "$OUT/build-graphs.log"
  grep -E "error" "$OUT/build-graphs.log" | head -20
  failures+=(build-with-cuda-graphs-fused-optimizer-and-nccl)
  summary "FAIL: build with CUDA graphs, the fused optimizer and NCCL (build-graphs.log); retrying with all three OFF: graph and NCCL tests skip, bench's graph entries run eagerly"
  if build OFF; then build_ok=1; fi
fi
grep -E "seqsam: |Caffe2: CUDA|Added CUDA NVCC flags|error|Error" "$OUT/build.log" | head -40
# GPU_CHECK_ALLOW_CPU=1: a rehearsal on a machine without CUDA LibTorch (the CUDA tests then skip).
if ((build_ok)) && { grep -q "seqsam: CUDA kernels on" "$OUT/build.log" || [[ ${GPU_CHECK_ALLOW_CPU:-} == 1 ]]; }; then
  summary "ok: build with CUDA ($(grep -c 'Building' "$OUT/build.log") steps)"
else
  tail -60 "$OUT/build.log"
  summary "FAIL: build (see build.log)"
  exit 1
fi
# The local build's place, where the loader looks first (SEQSAM_BINARY would override the loader tests' choices).
mkdir -p build/Release && cp build-cuda/seqsam.node build/Release/seqsam.node
export SEQSAM_NO_SETUP=1 SEQSAM_SKIP_APT=1
node -e "import('./dist/lib/index.js').then((m) => console.log(JSON.stringify(m.info(), null, 2)))" | tee "$OUT/info.json"
grep -q '"cuda": true' "$OUT/info.json" || { failures+=(cuda-unavailable); summary "FAIL: info().cuda is false"; }
grep -q '"builtWithCuda": true' "$OUT/info.json" || { failures+=(built-without-cuda); summary "FAIL: info().builtWithCuda is false"; }

# The GPU-specific tests first (CUDA kernels, CUDA graphs (test/cuda-graphs.test.mjs, through the glob),
# fused attention, bf16, cache placement, no-sync step), then the rest of the suite: everything runs with
# CUDA available, so the tests that skip here run there.
gpu_tests=(test/cuda-*.test.mjs test/adamw-cuda.test.mjs test/attention-sdpa.test.mjs test/attention-fold.test.mjs test/precision.test.mjs
  test/precision-held.test.mjs test/precision-tf32.test.mjs test/distributed-nccl.test.mjs)
# Tests of the developer's tooling, not of the GPU: they need dev packages (typescript, playwright-core) and a
# browser, none of which travels to the GPU machine.
tooling_tests=(test/types-consumer.test.mjs test/serve-browser.test.mjs)
other_tests=()
for f in test/*.test.mjs; do [[ " ${gpu_tests[*]} ${tooling_tests[*]} " == *" $f "* ]] || other_tests+=("$f"); done

# run_tests LABEL TAP-FILE SECONDS FILES...: one test run, its TAP kept in $OUT, its counts and failures in the summary.
run_tests() {
  local label=$1 tap=$2 seconds=$3
  shift 3
  if timeout "$(left "$seconds")" node --expose-gc --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$OUT/$tap" "$@"; then
    summary "ok: $label"
  else
    failures+=("$label")
    summary "FAIL: $label"
  fi
  summary "$label: $(grep -E '^# (tests|pass|fail|skipped|cancelled)' "$OUT/$tap" 2>/dev/null | tr '\n' ' ')"
  grep -E '^not ok|^# (worst|relative|[0-9]+ problems)' "$OUT/$tap" 2>/dev/null | sed 's/^/  /' | tee -a "$OUT/summary.txt"
}

step "GPU tests: ${gpu_tests[*]}"
run_tests "GPU tests" test-gpu.tap 150 "${gpu_tests[@]}"

step "bench (CUDA cases; JSON in bench.json)"
# Stopped by the time limit (SIGTERM), the bench still writes what it measured (marked partial).
report_bench() {
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (r.partial) console.log(`  (partial: stopped by ${r.stoppedBy})`);
    for (const e of r.entries) console.log(`  ${e.name}: ${Number(e.value).toPrecision(4)} ${e.unit}${e.note ? ` (${e.note})` : ""}`);' "$OUT/bench.json" | tee -a "$OUT/summary.txt"
  # The speed goals, met or not, read off the same numbers.
  node scripts/gpu-goals.mjs "$OUT/bench.json" | sed 's/^/  /' | tee -a "$OUT/summary.txt"
}
if timeout -k 15 "$(left 180)" node scripts/seqsam.mjs bench --case cuda-train cuda-inference cuda-encoder cuda-optimizer cuda-hungarian --json > "$OUT/bench.json"; then
  summary "ok: bench ($(grep -c '"name"' "$OUT/bench.json") entries)"
  report_bench
else
  failures+=(bench)
  summary "FAIL or timeout: bench"
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$OUT/bench.json" 2> /dev/null && report_bench
fi

step "the rest of the suite (${#other_tests[@]} files)"
run_tests "test suite" test.tap 300 "${other_tests[@]}"

summary "finished in ${SECONDS}s; failures: ${failures[*]:-none}"
((${#failures[@]} == 0))
