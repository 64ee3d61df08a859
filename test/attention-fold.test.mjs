// The encoder's rel-pos bias folded into q and k (SEQSAM_ATTENTION=folded: q' = [scale·q, q·relHᵀ, q·relWᵀ],
// k' = [k, onehot(row), onehot(column)], no mask) computes the same attention as the bias added to the
// scores: against the official reference outputs, and against the explicit formulas on random rel-pos
// tables. On LibTorch 2.1+ off the CPU it is the default path (SDPA's flash / cuDNN kernels); on 1.13 the
// same algebra runs as the formula written out.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { Sam, Tensor, checkpoint, info, tinyConfig } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, mulberry32, relativeL2, tempDir, withEnvironment } from './helpers.mjs';

const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());

// float32 arithmetic in another summation order: the fixtures' own tolerance.
const TOLERANCE = 1e-4;

const withAttention = (path, run) => withEnvironment({ SEQSAM_ATTENTION: path }, run);

// A random image as the encoder wants it.
function randomImage(seed, width, height) {
  const random = mulberry32(seed);
  return { data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256)), width, height, channels: 3 };
}

async function embedWith(path, load, image, device = 'cpu') {
  return withAttention(path, async () => {
    const sam = await load(device);
    try {
      const embedding = await sam.embed(image);
      const out = await values(embedding.tensor);
      embedding.dispose();
      return out;
    } finally {
      sam.dispose();
    }
  });
}

fixtureTest('folded rel-pos attention matches the reference encoder on the CPU', async () => {
  const data = await expected.image_hwc_u8.toTypedArray();
  const [height, width] = expected.image_hwc_u8.shape;
  await withAttention('folded', async () => {
    const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors') });
    const embedding = await sam.embed({ data, width, height, channels: 3 });
    const error = relativeL2(await values(embedding.tensor), await values(expected.image_embeddings));
    assert.ok(error < TOLERANCE, `embeddings: relative L2 ${error.toExponential(2)}`);
    embedding.dispose();
    sam.dispose();
  });
});

test('folded rel-pos attention equals the explicit formulas on random rel-pos tables (windowed and global blocks)', async (t) => {
  // The tiny config's blocks 0 and 2 are windowed (5×5), 1 and 3 global (16×16). A seeded model, with every
  // rel-pos table replaced by random values (SAM starts them at zero, which would hide a wrong fold).
  const base = await Sam.load({ config: tinyConfig, seed: 11 });
  const dir = tempDir(t);
  const original = join(dir, 'base.safetensors');
  await base.save(original);
  base.dispose();
  const { tensors, metadata } = await checkpoint.readSafetensors(original);
  const random = mulberry32(12);
  let tables = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (!/rel_pos_[hw]$/.test(name)) continue;
    tensors[name] = Tensor.from(Float32Array.from({ length: tensor.shape.reduce((a, b) => a * b, 1) }, () => random() - 0.5), tensor.shape);
    tensor.dispose();
    tables++;
  }
  assert.equal(tables, 2 * tinyConfig.encoder.depth, 'every block has rel-pos tables');
  const path = join(dir, 'random-rel-pos.safetensors');
  await checkpoint.writeSafetensors(path, tensors, metadata);
  for (const tensor of Object.values(tensors)) tensor.dispose();

  const load = (device) => Sam.load({ config: tinyConfig, checkpoint: path, device });
  const image = randomImage(13, 256, 200);
  const explicit = await embedWith('explicit', load, image);
  const folded = await embedWith('folded', load, image);
  const maskForm = await embedWith('sdpa', load, image);
  const foldError = relativeL2(folded, explicit);
  const maskError = relativeL2(maskForm, explicit);
  assert.ok(foldError < TOLERANCE, `folded vs explicit: relative L2 ${foldError.toExponential(2)}`);
  assert.ok(maskError < TOLERANCE, `mask form vs explicit: relative L2 ${maskError.toExponential(2)}`);
  // The random tables matter: the same weights with the model's own tables give another embedding.
  const own = await embedWith('explicit', (device) => Sam.load({ config: tinyConfig, checkpoint: original, device }), image);
  assert.ok(relativeL2(own, explicit) > 100 * TOLERANCE, 'the random rel-pos tables change the embedding');
  t.diagnostic(`relative L2 to the explicit formulas: folded ${foldError.toExponential(2)}, mask form ${maskError.toExponential(2)}`);
});

test('folded rel-pos attention on CUDA matches the CPU', { skip: info().cuda ? false : 'CUDA is not available' }, async (t) => {
  const load = (device) => Sam.load({ config: tinyConfig, seed: 21, device });
  const image = randomImage(22, 256, 256);
  const cpu = await embedWith('explicit', load, image, 'cpu');
  const cuda = await embedWith('folded', load, image, 'cuda');
  const error = relativeL2(cuda, cpu);
  // cuDNN convolutions may use TF32 (10-bit mantissa): the same bound as the other CUDA parity tests.
  assert.ok(error < 5e-3, `CUDA folded vs CPU: relative L2 ${error.toExponential(2)}`);
  t.diagnostic(`CUDA folded vs CPU explicit: ${error.toExponential(2)}`);
});
