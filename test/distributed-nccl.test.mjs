// NCCL at world size 1 on a GPU machine (scripts/gpu-check.sh runs it with the GPU tests): the distributed
// step takes the same steps as the plain one, and its overhead per step is reported. Skipped without CUDA
// or without NCCL in this build (the reason is printed).
import assert from 'node:assert/strict';
import test from 'node:test';

import { SeqSam, Tensor, distributed, info, tinyConfig } from '../dist/lib/index.js';
import { freePort } from './distributed-helpers.mjs';
import { mulberry32 } from './helpers.mjs';

const runtime = info();
const skip = !runtime.builtWithCuda || !runtime.cuda ? 'needs a CUDA build of seqsam on a machine with a GPU' : !distributed.available().available ? distributed.available().reason : false;

function batch(seed, b = 4) {
  const random = mulberry32(seed);
  const [channels, grid, low] = [32, 16, 64];
  const labels = new Float32Array(b * 2 * low * low).map(() => (random() < 0.2 ? 1 : 0));
  const boxes = new Float32Array(b * 4);
  for (let i = 0; i < b; i++) boxes.set([20, 20, 200, 200], i * 4);
  return {
    embeddings: Tensor.from(Float32Array.from({ length: b * channels * grid * grid }, () => random() - 0.5), [b, channels, grid, grid], { device: 'cuda' }),
    boxes: Tensor.from(boxes, [b, 4], { device: 'cuda' }),
    labels: Tensor.from(labels, [b, 2, low, low], { device: 'cuda' }),
  };
}

// cudaGraphs: a data-parallel step runs eagerly, so the plain step it is compared with does too (same kernels,
// same rounding); the graphed plain step is timed beside them.
async function run(steps, cudaGraphs = false) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, device: 'cuda', training: { numMasks: 3, lr: 1e-3, seed: 1, cudaGraphs } });
  const losses = [];
  let ms = 0;
  for (let s = 0; s < steps; s++) {
    const inputs = batch(s);
    const started = performance.now();
    const r = await model.trainStep(inputs);
    if (s >= 3) ms += performance.now() - started; // after warm-up
    losses.push(r.loss);
    r.dispose();
    for (const t of Object.values(inputs)) t.dispose();
  }
  model.dispose();
  return { losses, msPerStep: ms / (steps - 3) };
}

test('NCCL at world size 1 trains as the plain step; its overhead per step', { skip, timeout: 120000 }, async (t) => {
  const plain = await run(23);
  const graphed = await run(23, true);
  let group;
  try {
    group = await distributed.init({ rank: 0, worldSize: 1, masterPort: await freePort(), backend: 'nccl', deviceIndex: 0, timeoutMs: 30000 });
  } catch (error) {
    if (/needs a CUDA build of seqsam with NCCL/.test(error.message)) return t.skip(error.message);
    throw error;
  }
  try {
    assert.equal(group.backend, 'nccl');
    const nccl = await run(23);
    t.diagnostic(
      `ms per step: plain ${plain.msPerStep.toFixed(2)}, NCCL world size 1 ${nccl.msPerStep.toFixed(2)} (overhead ${(nccl.msPerStep - plain.msPerStep).toFixed(2)} ms); plain as a CUDA graph ${graphed.msPerStep.toFixed(2)}`,
    );
    for (let s = 0; s < plain.losses.length; s++) assert.ok(Math.abs(nccl.losses[s] - plain.losses[s]) <= 1e-5 * Math.abs(plain.losses[s]), `step ${s}: ${nccl.losses[s]} vs ${plain.losses[s]}`);
    assert.deepEqual(Array.from(await distributed.allReduceSum(new Float64Array([2, 3]))), [2, 3]);
  } finally {
    distributed.destroy();
  }
});
