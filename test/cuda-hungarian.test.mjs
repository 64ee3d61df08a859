// The GPU assignment kernel (native/cuda/hungarian_cuda.cu) against the CPU solver. Needs a CUDA build on a
// machine with a GPU (scripts/gpu-check.sh runs it there); skipped everywhere else.
import assert from 'node:assert/strict';
import test from 'node:test';

import { Tensor, info, ops } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

const runtime = info();
const skip = runtime.cuda ? false : 'CUDA is not available (CPU-only LibTorch or no GPU)';
const BATCH = 4096;

// Random costs, many with ties: kinds cycle through continuous, small integers, all equal, equal rows, equal
// columns, and Dice-like values on a 1/16 grid.
function randomCosts(random, batch, rows, cols) {
  const data = new Float32Array(batch * rows * cols);
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    const kind = b % 6;
    for (let i = 0; i < rows * cols; i++) {
      const x = random();
      data[base + i] = kind === 0 ? x : kind === 1 ? Math.floor(x * 3) : kind === 2 ? 0.25 : kind === 5 ? Math.round(x * 16) / 16 : x;
    }
    if (kind === 3) for (let r = 1; r < rows; r++) for (let c = 0; c < cols; c++) data[base + r * cols + c] = data[base + c];
    if (kind === 4) for (let r = 0; r < rows; r++) for (let c = 1; c < cols; c++) data[base + r * cols + c] = data[base + r * cols];
  }
  return data;
}

// Checks one problem's assignment and returns its total cost.
function total(data, columns, b, rows, cols) {
  const seen = new Set();
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const c = columns[b * rows + r];
    if (c < 0) continue;
    assert.ok(c < cols && !seen.has(c), `problem ${b}: column ${c} out of range or used twice`);
    seen.add(c);
    sum += data[b * rows * cols + r * cols + c];
  }
  assert.equal(seen.size, Math.min(rows, cols), `problem ${b}: ${seen.size} pairs matched, expected ${Math.min(rows, cols)}`);
  return sum;
}

async function solveBoth(data, shape, dtype) {
  const cpuCost = Tensor.from(data, shape);
  const gpuCost = Tensor.from(data, shape, { device: 'cuda' });
  const gpuInput = dtype === 'float64' ? await gpuCost.to({ dtype: 'float64' }) : gpuCost;
  const cpuOut = await ops.assignment(cpuCost);
  const gpuOut = await ops.assignment(gpuInput);
  try {
    assert.match(gpuOut.device, /^cuda/, 'the result stays on the GPU');
    assert.equal(gpuOut.dtype, 'int64');
    assert.deepEqual(gpuOut.shape, [shape[0], shape[1]]);
    return {
      cpu: Array.from(await cpuOut.toTypedArray(), Number),
      gpu: Array.from(await gpuOut.toTypedArray(), Number),
    };
  } finally {
    for (const t of new Set([cpuCost, gpuCost, gpuInput, cpuOut, gpuOut])) t.dispose();
  }
}

// Solves `batch` random rows x cols problems on both devices; asserts equal totals; returns counts.
async function compare(random, batch, rows, cols, dtype = 'float32') {
  const data = randomCosts(random, batch, rows, cols);
  const { cpu, gpu } = await solveBoth(data, [batch, rows, cols], dtype);
  let identical = 0;
  for (let b = 0; b < batch; b++) {
    const expected = total(data, cpu, b, rows, cols);
    const actual = total(data, gpu, b, rows, cols);
    assert.ok(Math.abs(actual - expected) <= 1e-9 * (1 + Math.abs(expected)), `${rows}x${cols} problem ${b}: GPU total ${actual}, CPU total ${expected}`);
    let same = true;
    for (let r = 0; r < rows; r++) same &&= cpu[b * rows + r] === gpu[b * rows + r];
    if (same) identical++;
  }
  return { problems: batch, identical };
}

test('the CUDA build carries the assignment kernel', { skip }, () => {
  assert.equal(runtime.builtWithCuda, true, 'CUDA is available but the addon was built without SEQSAM_WITH_CUDA');
});

test('GPU assignment equals the CPU solver on 100,000+ random problems (ties; M×K, K ≤ M ≤ 64)', { skip }, async (t) => {
  const random = mulberry32(2024);
  let problems = 0;
  let identical = 0;
  for (let m = 1; m <= 8; m++) {
    for (let k = 1; k <= m; k++) {
      const r = await compare(random, BATCH, m, k);
      problems += r.problems;
      identical += r.identical;
    }
  }
  // Larger M × K up to 64 (one to two columns per lane), then 64 × 64.
  for (const [m, k, batch] of [[16, 4, 2048], [20, 10, 2048], [33, 7, 1024], [48, 48, 512], [64, 4, 1024], [64, 33, 512], [64, 64, BATCH]]) {
    const r = await compare(random, batch, m, k);
    problems += r.problems;
    identical += r.identical;
  }
  assert.ok(problems >= 100_000, `${problems} problems`);
  t.diagnostic(`${problems} problems; ${identical} with the very same assignment as the CPU solver`);
  // The kernel does the CPU solver's arithmetic with its tie breaks: not just as good, the same.
  assert.equal(identical, problems, 'every assignment equals the CPU solver\'s');
});

test('GPU assignment: wide (K > M), float64, odd and large sides, empty shapes', { skip }, async () => {
  const random = mulberry32(7);
  for (const [rows, cols, dtype] of [
    [3, 8, 'float32'],
    [8, 8, 'float64'],
    [17, 64, 'float32'],
    [64, 17, 'float64'],
    [33, 40, 'float32'],
    [100, 37, 'float32'],
    [200, 256, 'float32'],
  ]) {
    const r = await compare(random, rows * cols > 4096 ? 64 : 512, rows, cols, dtype);
    assert.equal(r.identical, r.problems, `${rows}x${cols} ${dtype}: every assignment equals the CPU solver's`);
  }
  // Beyond the kernel's 256 side the CPU solver runs; the result still comes back on the GPU.
  await compare(random, 2, 300, 3);
  for (const shape of [[0, 4, 2], [3, 0, 2], [3, 4, 0]]) {
    const cost = Tensor.from(new Float32Array(0), shape, { device: 'cuda' });
    const out = await ops.assignment(cost);
    assert.deepEqual(out.shape, [shape[0], shape[1]]);
    assert.deepEqual(await out.toArray(), new Array(shape[0] * shape[1]).fill(-1));
    cost.dispose();
    out.dispose();
  }
});

test('GPU assignment: a problem with NaN or infinity is all -1, its neighbours unaffected', { skip }, async () => {
  const data = new Float32Array([1, 2, 3, NaN, 1, 2, 3, 4, Infinity, 0, 0, 0, 5, 1, 2, 0]);
  const cost = Tensor.from(data, [4, 2, 2], { device: 'cuda' });
  const out = await ops.assignment(cost);
  assert.deepEqual(await out.toArray(), [-1, -1, 0, 1, -1, -1, 1, 0]);
  cost.dispose();
  out.dispose();
});
