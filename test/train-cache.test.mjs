// The embedding cache: encoder runs once per image, float16 disk round trip, keys follow the weights.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { SeqSam, tinyConfig, data } from '../dist/lib/index.js';
import { EmbeddingCache, encoderFingerprint } from '../dist/lib/train/index.js';
import { readSafetensors } from '../dist/lib/checkpoint/index.js';
import { spyEmbed, tempDir } from './helpers.mjs';

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const dataset = data.datasets.synthetic({ count: 4, size: 64, seed: 9 });

test('each image is embedded once; batch() stacks; memory hits do not run the encoder', async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 0 });
  const calls = spyEmbed(model);
  const cache = new EmbeddingCache();
  const samples = [0, 1, 2, 3].map((i) => dataset.get(i));
  const first = await cache.get(model, samples[0]);
  assert.deepEqual(first.shape, [1, 32, 16, 16]);
  assert.equal(first.dtype, 'float32');
  assert.equal(await cache.get(model, samples[0]), first);
  const stacked = await cache.batch(model, samples);
  assert.deepEqual(stacked.shape, [4, 32, 16, 16]);
  const again = await cache.batch(model, samples);
  assert.equal(calls.count, 4);
  assert.deepEqual(await again.toTypedArray(), await stacked.toTypedArray());
  stacked.dispose();
  again.dispose();
  const stats = cache.stats;
  assert.equal(stats.computed, 4);
  assert.equal(stats.entries, 4);
  assert.equal(stats.bytes, 4 * 32 * 16 * 16 * 4);
  cache.dispose();
  model.dispose();
});

test('the memory budget evicts least recently used entries, never ones in use', async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 0 });
  const calls = spyEmbed(model);
  const entry = 32 * 16 * 16 * 4;
  const cache = new EmbeddingCache({ maxBytes: 2 * entry });
  const samples = [0, 1, 2, 3].map((i) => dataset.get(i));
  // A batch larger than the budget still works: its entries are pinned while it is built.
  const all = await cache.batch(model, samples);
  assert.deepEqual(all.shape, [4, 32, 16, 16]);
  all.dispose();
  assert.equal(cache.stats.entries, 2);
  assert.equal(cache.stats.evictions, 2);
  // 2 and 3 are hot, 0 was evicted.
  await cache.get(model, samples[3]);
  assert.equal(calls.count, 4);
  await cache.get(model, samples[0]);
  assert.equal(calls.count, 5);
  cache.dispose();
  model.dispose();
});

test('disk round trip: float16 files reload within tolerance, without the encoder', async (t) => {
  const dir = tempDir(t);
  const model = await SeqSam.load({ config: tinyConfig, seed: 0 });
  const calls = spyEmbed(model);
  const sample = dataset.get(1);
  const reference = await model.embed(sample.image);
  const exact = await reference.tensor.toTypedArray();
  reference.dispose();
  calls.count = 0;

  const writer = new EmbeddingCache({ dir });
  const hot = await (await writer.get(model, sample)).toTypedArray();
  const key = await writer.key(model, sample);
  assert.equal(calls.count, 1);
  const file = writer.path(key);
  assert.ok(readdirSync(join(dir, key.slice(0, 2))).includes(`${key}.safetensors`));
  const stored = await readSafetensors(file);
  assert.equal(stored.tensors.embedding.dtype, 'float16');
  assert.equal(stored.metadata.key, key);
  assert.equal(stored.metadata.id, sample.id);
  assert.equal(stored.metadata.intensity, 'sam');
  stored.tensors.embedding.dispose();
  writer.dispose();

  const reader = new EmbeddingCache({ dir });
  const cold = await (await reader.get(model, sample)).toTypedArray();
  assert.equal(calls.count, 1, 'read back from disk, not recomputed');
  assert.equal(reader.stats.diskHits, 1);
  // The hot copy is the float16 value too: fresh and reloaded embeddings are identical.
  assert.deepEqual(cold, hot);
  const scale = exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(maxAbsDiff(cold, exact) <= scale * 1e-3, `float16 error ${maxAbsDiff(cold, exact)} (scale ${scale})`);
  reader.dispose();

  // float32 storage keeps the encoder's values exactly.
  const full = new EmbeddingCache({ dir, precision: 'float32' });
  assert.deepEqual(await (await full.get(model, sample)).toTypedArray(), exact);
  full.dispose();
  model.dispose();
});

test('keys change with the weights, the image and the preprocessing; a reloaded checkpoint keeps them', async (t) => {
  const dir = tempDir(t);
  const a = await SeqSam.load({ config: tinyConfig, seed: 0 });
  const b = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const path = join(dir, 'a.safetensors');
  await a.save(path);
  const reloaded = await SeqSam.load({ config: tinyConfig, seed: 5, checkpoint: path });
  const sample = dataset.get(0);
  const cache = new EmbeddingCache();
  const key = await cache.key(a, sample);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.notEqual(await encoderFingerprint(a), await encoderFingerprint(b));
  assert.notEqual(await cache.key(b, sample), key, 'a different seed (other weights) changes the key');
  assert.equal(await cache.key(reloaded, sample), key, 'the same weights from a checkpoint keep the key');
  assert.notEqual(await cache.key(a, dataset.get(1)), key);
  assert.notEqual(await new EmbeddingCache({ intensity: 'minmax' }).key(a, sample), key);
  assert.notEqual(await new EmbeddingCache({ precision: 'float32' }).key(a, sample), key);
  // A different checkpoint under the same cache directory is recomputed, not reused.
  const disk = new EmbeddingCache({ dir: join(dir, 'cache') });
  await disk.get(a, sample);
  const calls = spyEmbed(b);
  await disk.get(b, sample);
  assert.equal(calls.count, 1);
  disk.dispose();
  cache.dispose();
  for (const m of [a, b, reloaded]) m.dispose();
});
