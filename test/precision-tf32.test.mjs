// precision: 'tf32': float32 weights and activations, with the float32 matmuls and convolutions allowed to
// run on TF32 tensor cores on CUDA (LibTorch's process-wide switch, held only while a tf32 model runs).
//
// On the CPU there is no TF32: a tf32 model must give exactly the fp32 model's bits, in inference and in
// training. On CUDA the bound is derived as for bf16 autocast (test/precision.test.mjs): TF32 keeps 11
// significant bits (u = 2⁻¹¹) and rounds both operands of every matmul and convolution, so through L stages
// the relative rms error is about √(2L/3)·u; the test allows twice that, and asks for more than a single
// rounding (u/8), which a run that never used TF32 stays below. After a tf32 model has run, an fp32 model
// must again give its own bits (the switch was put back).
import assert from 'node:assert/strict';
import test from 'node:test';

import { Sam, SeqSam, Tensor, info, tinyConfig } from '../dist/lib/index.js';
import { mulberry32, relativeL2 } from './helpers.mjs';

const values = async (t) => Array.from(await t.toTypedArray());
const UNIT_ROUNDOFF = 2 ** -11;
const cudaSkip = info().cuda ? false : 'needs a CUDA device';

function image(seed) {
  const random = mulberry32(seed);
  const size = tinyConfig.image_size;
  return { data: Uint8Array.from({ length: size * size * 3 }, () => Math.floor(random() * 256)), width: size, height: size, channels: 3 };
}

function trainingBatch(device) {
  const random = mulberry32(5);
  const [c, grid, low] = [tinyConfig.prompt_embed_dim, 16, 64];
  return {
    embeddings: Tensor.from(Float32Array.from({ length: 2 * c * grid * grid }, () => random() - 0.5), [2, c, grid, grid], { device }),
    boxes: Tensor.from(new Float32Array([30, 40, 150, 160, 60, 20, 200, 120]), [2, 4], { device }),
    labels: Tensor.from(Float32Array.from({ length: 2 * 3 * low * low }, () => (random() < 0.3 ? 1 : 0)), [2, 3, low, low], { device }),
  };
}

async function embedWith(precision, device, seed = 7) {
  const sam = await Sam.load({ config: tinyConfig, seed: 1, device, precision });
  assert.equal(sam.precision, precision);
  const embedding = await sam.embed(image(seed));
  const out = await values(embedding.tensor);
  embedding.dispose();
  sam.dispose();
  return out;
}

test('tf32 on the CPU is fp32: the same embeddings, rollout and training steps, bit for bit', async () => {
  assert.deepEqual(await embedWith('tf32', 'cpu'), await embedWith('fp32', 'cpu'));
  const runs = {};
  for (const precision of ['fp32', 'tf32']) {
    const model = await SeqSam.load({ config: tinyConfig, seed: 4, precision, training: { numMasks: 4, lr: 1e-3, seed: 2 } });
    const data = trainingBatch('cpu');
    const losses = [];
    let logits;
    for (let s = 0; s < 3; s++) {
      const step = await model.trainStep(data);
      losses.push(step.loss);
      logits = await values(step.logits);
      step.dispose();
    }
    runs[precision] = { losses, logits };
    for (const t of Object.values(data)) t.dispose();
    model.dispose();
  }
  assert.deepEqual(runs.tf32.losses, runs.fp32.losses);
  assert.deepEqual(runs.tf32.logits, runs.fp32.logits);
});

test('tf32 on CUDA: embeddings within the TF32 bound of fp32 and above a single rounding; fp32 unchanged after', { skip: cudaSkip }, async (t) => {
  const { depth } = tinyConfig.encoder;
  const stages = 1 + 6 * depth + 2; // patch embedding, six matmuls a block, the neck's two convolutions
  const ceiling = 2 * Math.sqrt((2 * stages) / 3) * UNIT_ROUNDOFF;
  const before = await embedWith('fp32', 'cuda');
  const tf32 = await embedWith('tf32', 'cuda');
  const after = await embedWith('fp32', 'cuda');
  const error = relativeL2(tf32, before);
  t.diagnostic(`relative L2 tf32 vs fp32 ${error.toExponential(2)} (bound ${ceiling.toExponential(2)}, floor ${(UNIT_ROUNDOFF / 8).toExponential(2)})`);
  assert.ok(error < ceiling, `tf32 vs fp32 relative L2 ${error} ≥ ${ceiling}`);
  assert.ok(error > UNIT_ROUNDOFF / 8, `tf32 vs fp32 relative L2 ${error}: TF32 did not run`);
  assert.deepEqual(after, before, 'an fp32 model after a tf32 one gives its own bits (the switch was put back)');
});

test('precision names tf32 among its choices', async () => {
  await assert.rejects(Sam.load({ config: tinyConfig, seed: 1, precision: 'tf16' }), { code: 'ERR_ARGUMENT', message: /'fp32', 'bf16' or 'tf32'.*tf16/ });
});
