// precision: 'bf16' (autocast: matmuls and convolutions in bfloat16, norms and reductions in float32) against
// 'fp32' on the same weights: encoder embeddings and decoder logits within 1e-2 relative L2. Runs on the CPU
// here (LibTorch's CPU autocast); on a CUDA device the same option turns on CUDA autocast.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { Sam, SeqSam, Tensor, checkpoint, info, tinyConfig } from '../dist/lib/index.js';
import { fixture, mulberry32, relativeL2 } from './helpers.mjs';

const reference = JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const { tensors: expected } = await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'));
const values = async (t) => Array.from(await t.toTypedArray());
const devices = info().cuda ? ['cpu', 'cuda'] : ['cpu'];

async function rawImage() {
  const data = await expected.image_hwc_u8.toTypedArray();
  const [height, width] = expected.image_hwc_u8.shape;
  return { data, width, height, channels: 3 };
}

// bf16 is really in use (not a silent fp32 run) and close to fp32.
function assertBf16Close(actual, fp32, name) {
  const error = relativeL2(actual, fp32);
  assert.ok(error < 1e-2, `${name}: bf16 vs fp32 relative L2 ${error.toExponential(2)} ≥ 1e-2`);
  assert.ok(error > 1e-7, `${name}: bf16 equals fp32 (${error}): autocast did not run`);
  return error;
}

for (const device of devices) {
  test(`bf16 autocast on ${device}: SAM embeddings and mask logits within 1e-2 of fp32 (official tiny SAM)`, async (t) => {
    const models = {};
    for (const precision of ['fp32', 'bf16']) {
      models[precision] = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors'), device, precision });
    }
    assert.equal(models.bf16.precision, 'bf16');
    assert.equal(models.fp32.precision, 'fp32');
    const image = await rawImage();
    const embedding = { fp32: await models.fp32.embed(image), bf16: await models.bf16.embed(image) };
    assert.equal(embedding.bf16.tensor.dtype, 'float32', 'outputs come back as float32');
    const errors = [assertBf16Close(await values(embedding.bf16.tensor), await values(embedding.fp32.tensor), 'image embeddings')];
    // The decoder alone, on the same (fp32) embedding; then the whole bf16 pipeline.
    const box = { box: [20, 24, 90, 100], multimask: true };
    const fp32 = await models.fp32.predict(embedding.fp32, box);
    for (const [name, source] of [['decoder', embedding.fp32], ['encoder + decoder', embedding.bf16]]) {
      const bf16 = await models.bf16.predict(source, box);
      assert.equal(bf16.lowResLogits.dtype, 'float32');
      errors.push(assertBf16Close(await values(bf16.lowResLogits), await values(fp32.lowResLogits), `${name} low-res logits`));
      bf16.dispose();
    }
    t.diagnostic(`relative L2: embeddings ${errors[0].toExponential(2)}, decoder ${errors[1].toExponential(2)}, both ${errors[2].toExponential(2)}`);
    fp32.dispose();
    for (const e of Object.values(embedding)) e.dispose();
    for (const m of Object.values(models)) m.dispose();
  });

  test(`bf16 autocast on ${device}: SeqSAM rollout logits and a training step within 1e-2 of fp32`, async () => {
    const random = mulberry32(3);
    const [c, grid, low] = [tinyConfig.prompt_embed_dim, 16, 64];
    const batch = () => ({
      embeddings: Tensor.from(Float32Array.from({ length: 2 * c * grid * grid }, () => random() - 0.5), [2, c, grid, grid]),
      boxes: Tensor.from(new Float32Array([30, 40, 150, 160, 60, 20, 200, 120]), [2, 4]),
      labels: Tensor.from(Float32Array.from({ length: 2 * 3 * low * low }, () => (random() < 0.3 ? 1 : 0)), [2, 3, low, low]),
    });
    const data = batch();
    const losses = {};
    const logits = {};
    for (const precision of ['fp32', 'bf16']) {
      const model = await SeqSam.load({ config: tinyConfig, seed: 4, device, precision, training: { numMasks: 4, lr: 1e-3, seed: 2 } });
      const step = await model.trainStep(data);
      assert.ok(Number.isFinite(step.loss));
      losses[precision] = step.loss;
      logits[precision] = await values(step.logits);
      step.dispose();
      model.dispose();
    }
    assertBf16Close(logits.bf16, logits.fp32, 'rollout logits (M = 4)');
    assert.ok(Math.abs(losses.bf16 - losses.fp32) < 1e-2 * Math.abs(losses.fp32), `loss ${losses.bf16} vs ${losses.fp32}`);
    for (const t of Object.values(data)) t.dispose();
  });
}

test('precision is checked', async () => {
  await assert.rejects(SeqSam.load({ config: tinyConfig, precision: 'fp16' }), { code: 'ERR_ARGUMENT', message: /precision must be 'fp32' or 'bf16'/ });
});
