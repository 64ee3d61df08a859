// precision: 'bf16' (autocast: matmuls and convolutions in bfloat16, norms and reductions in float32) against
// 'fp32' on the same weights. Runs on the CPU here (LibTorch's CPU autocast); on a CUDA device the same
// option turns on CUDA autocast. Autocast is what passes that need a gradient run; an encoder pass that
// needs none runs on weights held in bf16 instead (test/precision-held.test.mjs): this file keeps autocast
// everywhere (SEQSAM_BF16_WEIGHTS=autocast) to test it on the encoder as well.
//
// The bound is derived, not measured. bf16 keeps 8 significant bits: round-to-nearest leaves a relative
// error within ±u, u = 2⁻⁸, about uniform, so of rms u/√3. Autocast rounds both operands of every matmul
// and convolution: each such stage adds a relative rms error of about √2·u/√3 to its output, independent
// of the other stages', so through L stages in sequence they add in quadrature to √(2L/3)·u. The test
// allows twice that (residual paths and normalisations shrink the error; the factor covers kernels that
// also round partial sums). A path that ran no bf16 at all stays below a single rounding: the floor u/8.
// The last test shows both bounds reject broken paths: an fp32 run labelled bf16, and weights cast to an
// 8-bit float (4 significant bits).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { Sam, SeqSam, Tensor, checkpoint, info, tinyConfig } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, mulberry32, relativeL2, tempDir } from './helpers.mjs';

const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());
const devices = info().cuda ? ['cpu', 'cuda'] : ['cpu'];

process.env.SEQSAM_BF16_WEIGHTS = 'autocast';

const UNIT_ROUNDOFF = 2 ** -8;

// Matmul / convolution stages in sequence on the longest path to each output (see the header).
function stages(config) {
  const { encoder, decoder } = config;
  // Patch embedding, per block qkv, q·kᵀ, attention·v, projection and the two MLP layers, the neck's two convolutions.
  const encoderStages = 1 + 6 * encoder.depth + 2;
  // Box → positional encoding; per two-way layer self-attention (6), token→image (6), MLP (2),
  // image→token (6); the final token→image attention (6); the hypernetwork MLP (3) and its product (1).
  const decoderStages = 1 + 20 * decoder.transformer_depth + 6 + 3 + 1;
  // A SeqSAM step adds the mask prompt's three downscaling convolutions and the cell's convolution.
  return { encoder: encoderStages, decoder: decoderStages, seqsamStep: decoderStages + 4 };
}

function bf16Bounds(stageCount) {
  return { floor: UNIT_ROUNDOFF / 8, ceiling: 2 * Math.sqrt((2 * stageCount) / 3) * UNIT_ROUNDOFF };
}

// bf16 is really in use (not a silent fp32 run) and within what bf16 arithmetic explains.
function assertBf16Close(actual, fp32, name, stageCount) {
  const error = relativeL2(actual, fp32);
  const { floor, ceiling } = bf16Bounds(stageCount);
  assert.ok(error < ceiling, `${name}: bf16 vs fp32 relative L2 ${error.toExponential(2)} ≥ ${ceiling.toExponential(2)} (${stageCount} bf16 stages)`);
  assert.ok(error > floor, `${name}: bf16 vs fp32 relative L2 ${error.toExponential(2)} ≤ ${floor.toExponential(2)}: no bf16 arithmetic ran`);
  return error;
}

async function rawImage() {
  const data = await expected.image_hwc_u8.toTypedArray();
  const [height, width] = expected.image_hwc_u8.shape;
  return { data, width, height, channels: 3 };
}

// Rounds to `bits` significant bits (round half away from zero), as a cast to a narrow float would.
function roundToBits(x, bits) {
  if (x === 0 || !Number.isFinite(x)) return x;
  const step = 2 ** (Math.floor(Math.log2(Math.abs(x))) - (bits - 1));
  return Math.round(x / step) * step;
}

for (const device of devices) {
  fixtureTest(`bf16 autocast on ${device}: SAM embeddings and mask logits within the bf16 bound of fp32 (official tiny SAM)`, async (t) => {
    const counts = stages(reference.config);
    const models = {};
    for (const precision of ['fp32', 'bf16']) {
      models[precision] = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors'), device, precision });
    }
    assert.equal(models.bf16.precision, 'bf16');
    assert.equal(models.fp32.precision, 'fp32');
    const image = await rawImage();
    const embedding = { fp32: await models.fp32.embed(image), bf16: await models.bf16.embed(image) };
    assert.equal(embedding.bf16.tensor.dtype, 'float32', 'outputs come back as float32');
    const errors = [assertBf16Close(await values(embedding.bf16.tensor), await values(embedding.fp32.tensor), 'image embeddings', counts.encoder)];
    // The decoder alone, on the same (fp32) embedding; then the whole bf16 pipeline.
    const box = { box: [20, 24, 90, 100], multimask: true };
    const fp32 = await models.fp32.predict(embedding.fp32, box);
    for (const [name, source, stageCount] of [['decoder', embedding.fp32, counts.decoder], ['encoder + decoder', embedding.bf16, counts.encoder + counts.decoder]]) {
      const bf16 = await models.bf16.predict(source, box);
      assert.equal(bf16.lowResLogits.dtype, 'float32');
      errors.push(assertBf16Close(await values(bf16.lowResLogits), await values(fp32.lowResLogits), `${name} low-res logits`, stageCount));
      bf16.dispose();
    }
    t.diagnostic(`relative L2: embeddings ${errors[0].toExponential(2)}, decoder ${errors[1].toExponential(2)}, both ${errors[2].toExponential(2)}`);
    fp32.dispose();
    for (const e of Object.values(embedding)) e.dispose();
    for (const m of Object.values(models)) m.dispose();
  });

  test(`bf16 autocast on ${device}: SeqSAM rollout logits and a training step within the bf16 bound of fp32`, async () => {
    const numMasks = 4;
    // The rollout chains the steps: step m's logits went through m step paths.
    const stageCount = numMasks * stages(tinyConfig).seqsamStep;
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
      const model = await SeqSam.load({ config: tinyConfig, seed: 4, device, precision, training: { numMasks, lr: 1e-3, seed: 2 } });
      const step = await model.trainStep(data);
      assert.ok(Number.isFinite(step.loss));
      losses[precision] = step.loss;
      logits[precision] = await values(step.logits);
      step.dispose();
      model.dispose();
    }
    assertBf16Close(logits.bf16, logits.fp32, `rollout logits (M = ${numMasks})`, stageCount);
    // The Dice loss is a bounded, smooth function of the logits: its relative error stays within theirs.
    const lossError = Math.abs(losses.bf16 - losses.fp32) / Math.abs(losses.fp32);
    assert.ok(lossError < bf16Bounds(stageCount).ceiling, `loss ${losses.bf16} vs ${losses.fp32}`);
    for (const t of Object.values(data)) t.dispose();
  });
}

test('precision is checked', async () => {
  await assert.rejects(SeqSam.load({ config: tinyConfig, precision: 'fp16' }), { code: 'ERR_ARGUMENT', message: /precision must be 'fp32', 'bf16' or 'tf32'/ });
});

fixtureTest('the bf16 bounds reject broken paths: an fp32 run labelled bf16, weights cast to an 8-bit float', async (t) => {
  const counts = stages(reference.config);
  const image = await rawImage();
  const { tensors: weights } = await checkpoint.readSafetensors(fixture('sam-tiny', 'sam.safetensors'));
  // Every weight through a float of 4 significant bits (as float8 e4m3 keeps), then back.
  const narrowed = {};
  for (const [name, tensor] of Object.entries(weights)) {
    const data = Float32Array.from(await tensor.toTypedArray(), (x) => roundToBits(x, 4));
    narrowed[name] = Tensor.from(data, tensor.shape);
    tensor.dispose();
  }
  const path = join(tempDir(t), 'sam-e4m3.safetensors');
  await checkpoint.writeSafetensors(path, narrowed);
  for (const w of Object.values(narrowed)) w.dispose();

  const load = (checkpointPath) => Sam.load({ config: reference.config, checkpoint: checkpointPath, precision: 'fp32' });
  const [fp32, again, narrow] = await Promise.all([load(fixture('sam-tiny', 'sam.safetensors')), load(fixture('sam-tiny', 'sam.safetensors')), load(path)]);
  const embeddings = [await fp32.embed(image), await again.embed(image), await narrow.embed(image)];
  const [truth, unrounded, broken] = await Promise.all(embeddings.map((e) => values(e.tensor)));
  assert.throws(() => assertBf16Close(unrounded, truth, 'fp32 labelled bf16', counts.encoder), /no bf16 arithmetic ran/);
  assert.throws(() => assertBf16Close(broken, truth, '8-bit float weights', counts.encoder), /≥/);
  t.diagnostic(`8-bit float weights: relative L2 ${relativeL2(broken, truth).toExponential(2)}, bound ${bf16Bounds(counts.encoder).ceiling.toExponential(2)}`);
  for (const e of embeddings) e.dispose();
  for (const m of [fp32, again, narrow]) m.dispose();
});
