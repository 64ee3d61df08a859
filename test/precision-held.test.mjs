// precision: 'bf16' for an encoder pass that needs no gradient (embed, a frozen encoder in training): the
// encoder runs on a copy of its weights held in bfloat16, activations in bf16 from the patch embedding to
// the neck, against 'fp32' on the same weights. (test/precision.test.mjs covers autocast, the mode every
// pass that needs a gradient keeps; SEQSAM_BF16_WEIGHTS=autocast forces it, for comparing the two.)
//
// The bound is derived as precision.test.mjs's: bf16 rounds to 8 significant bits, relative error within
// ±u, u = 2⁻⁸, about uniform, rms u/√3; independent roundings add in quadrature. Autocast rounds the two
// operands of each of the L matmul / convolution stages: 2L roundings, rms √(2L/3)·u. Holding the weights
// and activations in bf16 rounds the same operands (the weights once, when held; the activations where
// autocast would cast them) and in addition, once each:
//   - the patch embedding's output, the position embedding and the sum of the two: 3;
//   - per block, the stream after each of its two residual adds (autocast keeps the stream in float32),
//     the two LayerNorms' weights (autocast runs them in float32) and the rel-pos tables: 5 · depth;
//   - the neck's two LayerNorm2d weights and their outputs: 4.
// So R = 5 · depth + 7 more roundings: rms √((2L + R)/3)·u, and the test allows twice that, as the autocast
// test does. The floor is the same u/8: a pass with no bf16 rounding at all stays below it.
//
// The GELU epilogue (SEQSAM_GELU_EPILOGUE; by default on CUDA for held weights) applies the tanh form of
// GELU, within 4.8e-4 of SAM's erf form everywhere (largest at x ≈ -2.70; math, not measured here): less
// than one bf16 rounding of any activation of magnitude ≥ 4.8e-4 / u ≈ 0.12. It is counted as one more
// rounding of the MLP's hidden activations per block: R + depth.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { Sam, SeqSam, Tensor, checkpoint, info, tinyConfig } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, mulberry32, relativeL2, tempDir, withEnvironment } from './helpers.mjs';

const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());
const devices = info().cuda ? ['cpu', 'cuda'] : ['cpu'];

const UNIT_ROUNDOFF = 2 ** -8;
const FLOOR = UNIT_ROUNDOFF / 8;

// Matmul / convolution stages on the encoder's longest path (as precision.test.mjs): the patch embedding,
// per block qkv, q·kᵀ, attention·v, the projection and the two MLP layers, the neck's two convolutions.
const encoderStages = (config) => 1 + 6 * config.encoder.depth + 2;
// The roundings holding bf16 adds to autocast's (see the header).
const heldRoundings = (config) => 5 * config.encoder.depth + 7;
// As precision.test.mjs: box → positional encoding, per two-way layer 20, the final attention 6, the
// hypernetwork MLP 3 and its product 1.
const decoderStages = (config) => 1 + 20 * config.decoder.transformer_depth + 6 + 3 + 1;

function heldCeiling(config, extraStages = 0, extraRoundings = 0) {
  const roundings = 2 * (encoderStages(config) + extraStages) + heldRoundings(config) + extraRoundings;
  return 2 * Math.sqrt(roundings / 3) * UNIT_ROUNDOFF;
}

function assertWithin(actual, truth, name, ceiling) {
  const error = relativeL2(actual, truth);
  assert.ok(error < ceiling, `${name}: held bf16 vs fp32 relative L2 ${error.toExponential(2)} ≥ ${ceiling.toExponential(2)}`);
  assert.ok(error > FLOOR, `${name}: held bf16 vs fp32 relative L2 ${error.toExponential(2)} ≤ ${FLOOR.toExponential(2)}: no bf16 arithmetic ran`);
  return error;
}

const withBf16Weights = (mode, run) => withEnvironment({ SEQSAM_BF16_WEIGHTS: mode }, run);
const withGeluEpilogue = (mode, run) => withEnvironment({ SEQSAM_GELU_EPILOGUE: mode }, run);

const sameBits = (a, b) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

async function embedValues(model, image) {
  const embedding = await model.embed(image);
  try {
    return await values(embedding.tensor);
  } finally {
    embedding.dispose();
  }
}

function randomImage(seed, side) {
  const random = mulberry32(seed);
  return { data: Uint8Array.from({ length: side * side * 3 }, () => Math.floor(random() * 256)), width: side, height: side, channels: 3 };
}

// Two random images of the tiny model's size with a box each and `numLabels` random annotator masks.
function imageBatch(device, seed, numLabels) {
  const s = tinyConfig.image_size;
  const random = mulberry32(seed);
  return {
    images: Tensor.from(Float32Array.from({ length: 2 * 3 * s * s }, () => 2 * random() - 1), [2, 3, s, s], { device }),
    boxes: Tensor.from(new Float32Array([30, 40, 150, 160, 60, 20, 200, 120]), [2, 4], { device }),
    labels: Tensor.from(Float32Array.from({ length: 2 * numLabels * 64 * 64 }, () => (random() < 0.3 ? 1 : 0)), [2, numLabels, 64, 64], { device }),
  };
}

for (const device of devices) {
  fixtureTest(`held bf16 encoder on ${device}: official tiny SAM embeddings and mask logits within the bound of fp32`, async (t) => {
    const config = reference.config;
    const load = (precision) => Sam.load({ config, checkpoint: fixture('sam-tiny', 'sam.safetensors'), device, precision });
    const [fp32, bf16] = [await load('fp32'), await load('bf16')];
    const image = { data: await expected.image_hwc_u8.toTypedArray(), width: expected.image_hwc_u8.shape[1], height: expected.image_hwc_u8.shape[0], channels: 3 };
    const truth = await fp32.embed(image);
    const held = await bf16.embed(image);
    assert.equal(held.tensor.dtype, 'float32', 'embeddings come back as float32');
    const heldValues = await values(held.tensor);
    const truthValues = await values(truth.tensor);
    const embeddingError = assertWithin(heldValues, truthValues, 'image embeddings', heldCeiling(config));
    // Not autocast under another name: the bf16 stream rounds where autocast's float32 one does not.
    const autocast = await withBf16Weights('autocast', () => embedValues(bf16, image));
    const apart = relativeL2(heldValues, autocast);
    assert.ok(apart > FLOOR, `held and autocast embeddings differ by only ${apart.toExponential(2)}: the held path did not run`);
    // The mask decoder (autocast) on the held embeddings: the two paths' roundings add up.
    const box = { box: [20, 24, 90, 100], multimask: true };
    const [fromTruth, fromHeld] = [await fp32.predict(truth, box), await bf16.predict(held, box)];
    const logitsError = assertWithin(await values(fromHeld.lowResLogits), await values(fromTruth.lowResLogits), 'low-res logits', heldCeiling(config, decoderStages(config)));
    t.diagnostic(`relative L2: embeddings ${embeddingError.toExponential(2)} (bound ${heldCeiling(config).toExponential(2)}), held vs autocast ${apart.toExponential(2)}, logits ${logitsError.toExponential(2)}`);
    for (const x of [fromTruth, fromHeld, truth, held, fp32, bf16]) x.dispose();
  });

  test(`held bf16 encoder on ${device}: a random tiny model's embeddings within the bound of fp32`, async (t) => {
    const image = randomImage(5, 200);
    const errors = [];
    for (const seed of [1, 2]) {
      const [fp32, bf16] = [await Sam.load({ config: tinyConfig, seed, device }), await Sam.load({ config: tinyConfig, seed, device, precision: 'bf16' })];
      errors.push(assertWithin(await embedValues(bf16, image), await embedValues(fp32, image), `seed ${seed}`, heldCeiling(tinyConfig)));
      fp32.dispose();
      bf16.dispose();
    }
    t.diagnostic(`relative L2 ${errors.map((e) => e.toExponential(2)).join(', ')} (bound ${heldCeiling(tinyConfig).toExponential(2)})`);
  });

  test(`held bf16 encoder on ${device}: a training step on images with the encoder frozen embeds them on held weights`, async (t) => {
    const numMasks = 2;
    const batch = imageBatch(device, 9, 3);
    const stepLogits = async (precision) => {
      const model = await SeqSam.load({ config: tinyConfig, seed: 4, device, precision, training: { numMasks, lr: 1e-3, seed: 2 } });
      const step = await model.trainStep(batch);
      const logits = await values(step.logits);
      step.dispose();
      model.dispose();
      return logits;
    };
    const fp32 = await stepLogits('fp32');
    const held = await stepLogits('bf16');
    // The rollout (autocast) chains its steps on the held embeddings: step m's logits went through m step
    // paths of precision.test.mjs's count (the decoder's stages and the cell's 4).
    const rolloutStages = numMasks * (decoderStages(tinyConfig) + 4);
    const error = assertWithin(held, fp32, `rollout logits (M = ${numMasks})`, heldCeiling(tinyConfig, rolloutStages));
    t.diagnostic(`relative L2 ${error.toExponential(2)} (bound ${heldCeiling(tinyConfig, rolloutStages).toExponential(2)})`);
    const autocast = await withBf16Weights('autocast', () => stepLogits('bf16'));
    assert.ok(relativeL2(held, autocast) > FLOOR, 'the frozen encoder ran under autocast, not on held weights');
    for (const x of Object.values(batch)) x.dispose();
  });

  test(`held bf16 encoder on ${device}: weights loaded into the model are the ones the next bf16 pass uses`, async (t) => {
    const image = randomImage(6, 256);
    const path = join(tempDir(t), 'seed-2.safetensors');
    const other = await SeqSam.load({ config: tinyConfig, seed: 2, device });
    await other.save(path);
    other.dispose();
    const model = await SeqSam.load({ config: tinyConfig, seed: 1, device, precision: 'bf16' });
    const before = await embedValues(model, image);  // holds seed 1's weights in bf16
    await model.restore(path);
    const after = await embedValues(model, image);
    const fresh = await SeqSam.load({ config: tinyConfig, checkpoint: path, device, precision: 'bf16' });
    const truth = await embedValues(fresh, image);
    // Same weights, same path: no bf16 rounding apart (the floor), while a stale copy would be seed 1's.
    assert.ok(relativeL2(after, truth) <= FLOOR, `after restore: ${relativeL2(after, truth).toExponential(2)} from a model loaded with those weights`);
    assert.ok(relativeL2(before, truth) > heldCeiling(tinyConfig), 'the two checkpoints embed alike: the test shows nothing');
    model.dispose();
    fresh.dispose();
  });

  test(`held bf16 encoder on ${device}: a training step on the encoder is seen by the next bf16 pass`, async (t) => {
    const batch = imageBatch(device, 7, 2);
    const image = randomImage(8, 256);
    const model = await SeqSam.load({ config: tinyConfig, seed: 3, device, precision: 'bf16', training: { numMasks: 2, lr: 1e-2, seed: 4, trainEncoder: true } });
    const before = await embedValues(model, image);  // held copy of the initial weights
    (await model.trainStep(batch)).dispose();  // autocast, the encoder's float32 weights updated
    const after = await embedValues(model, image);
    const path = join(tempDir(t), 'stepped.safetensors');
    await model.save(path);
    const fresh = await SeqSam.load({ config: tinyConfig, checkpoint: path, device, precision: 'bf16' });
    const truth = await embedValues(fresh, image);
    assert.ok(relativeL2(after, truth) <= FLOOR, `after a step: ${relativeL2(after, truth).toExponential(2)} from a model loaded with the stepped weights`);
    assert.ok(relativeL2(before, truth) > FLOOR, 'the step left the encoder as it was: the test shows nothing');
    t.diagnostic(`the step moved the embeddings by ${relativeL2(before, truth).toExponential(2)}`);
    model.dispose();
    fresh.dispose();
    for (const x of Object.values(batch)) x.dispose();
  });
  fixtureTest(`held bf16 encoder on ${device}: with the GELU epilogue, official tiny SAM embeddings within the bound of fp32`, async (t) => {
    const config = reference.config;
    const load = (precision) => Sam.load({ config, checkpoint: fixture('sam-tiny', 'sam.safetensors'), device, precision });
    const [fp32, bf16] = [await load('fp32'), await load('bf16')];
    const image = { data: await expected.image_hwc_u8.toTypedArray(), width: expected.image_hwc_u8.shape[1], height: expected.image_hwc_u8.shape[0], channels: 3 };
    const truth = await embedValues(fp32, image);
    const fused = await withGeluEpilogue('1', () => embedValues(bf16, image));
    const unfused = await withGeluEpilogue('0', () => embedValues(bf16, image));
    const bound = heldCeiling(config, 0, config.encoder.depth);
    const error = assertWithin(fused, truth, 'image embeddings (GELU epilogue)', bound);
    // The epilogue ran: its tanh GELU gives other bits than the erf GELU after a separate matmul.
    assert.ok(!sameBits(fused, unfused), 'SEQSAM_GELU_EPILOGUE=1 gave the unfused embeddings bit for bit');
    // The default: fused only for held weights on CUDA.
    const byDefault = await withGeluEpilogue(undefined, () => embedValues(bf16, image));
    assert.ok(sameBits(byDefault, device === 'cuda' ? fused : unfused), `the default on ${device} is not the ${device === 'cuda' ? 'fused' : 'unfused'} path`);
    t.diagnostic(`relative L2 to fp32: ${error.toExponential(2)} (bound ${bound.toExponential(2)}); fused vs unfused ${relativeL2(fused, unfused).toExponential(2)}`);
    fp32.dispose();
    bf16.dispose();
  });

  test(`GELU epilogue on ${device}: a pass that needs a gradient never takes it (the fused op has no derivative)`, async () => {
    const batch = imageBatch(device, 17, 2);
    const stepped = (epilogue) => withGeluEpilogue(epilogue, async () => {
      const model = await SeqSam.load({ config: tinyConfig, seed: 5, device, training: { numMasks: 2, lr: 1e-2, seed: 6, trainEncoder: true } });
      try {
        const step = await model.trainStep(batch);
        const logits = await values(step.logits);
        step.dispose();
        return logits;
      } finally {
        model.dispose();
      }
    });
    // Forced on, the encoder's backward still runs through linear and the erf GELU: the very same step.
    assert.ok(sameBits(await stepped('1'), await stepped('0')), 'forcing the epilogue changed a step that trains the encoder');
    for (const x of Object.values(batch)) x.dispose();
  });
}
