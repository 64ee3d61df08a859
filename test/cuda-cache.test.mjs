// Where the embedding cache keeps its hot entries: on the model's CUDA device when the budget fits in its
// free memory, else in CPU memory (copied over on each use). The CUDA cases run where a GPU is present.
import assert from 'node:assert/strict';
import test from 'node:test';

import { SeqSam, cudaMemory, data, info, tinyConfig } from '../dist/lib/index.js';
import { EmbeddingCache, cacheDevice, deviceReserveBytes } from '../dist/lib/train/index.js';

const dataset = data.datasets.synthetic({ count: 3, size: 64, seed: 4 });
const samples = [0, 1, 2].map((i) => dataset.get(i));
const skip = info().cuda ? false : 'CUDA is not available';

test('placement: CPU models keep entries in CPU memory; without CUDA, auto falls back to the CPU', () => {
  assert.equal(cacheDevice('auto', 'cpu', 1024), 'cpu');
  assert.equal(cacheDevice('model', 'cpu', 1024), 'cpu');
  assert.equal(cacheDevice('cpu', 'cuda', 1024), 'cpu');
  if (!info().cuda) {
    assert.equal(cudaMemory('cuda'), null);
    assert.equal(cacheDevice('auto', 'cuda', 1024), 'cpu');
  }
  assert.throws(() => new EmbeddingCache({ placement: 'gpu' }), { code: 'ERR_ARGUMENT' });
  assert.throws(() => cudaMemory('cpu'), { code: 'ERR_DEVICE' });
});

test('placement on a CUDA model: auto picks the GPU when the budget fits, the CPU when not; same values', { skip }, async () => {
  const memory = cudaMemory('cuda');
  assert.ok(memory && memory.free > 0 && memory.total >= memory.free, JSON.stringify(memory));
  assert.equal(cacheDevice('auto', 'cuda', 1024 ** 3), memory.free > 1024 ** 3 + deviceReserveBytes ? 'cuda' : 'cpu');
  assert.equal(cacheDevice('auto', 'cuda', memory.total), 'cpu');

  const model = await SeqSam.load({ config: tinyConfig, seed: 0, device: 'cuda' });
  const results = {};
  for (const [name, options] of [['gpu', { maxBytes: 64 * 1024 ** 2 }], ['cpu', { placement: 'cpu' }], ['tooBig', { maxBytes: memory.total }]]) {
    const cache = new EmbeddingCache(options);
    assert.equal(cache.deviceFor(model.device), name === 'gpu' ? 'cuda' : 'cpu');
    const one = await cache.get(model, samples[0]);
    assert.match(one.device, /^cuda/, `${name}: get() serves on the model's device`);
    const first = await one.toTypedArray();
    const stacked = await cache.batch(model, samples);
    assert.match(stacked.device, /^cuda/, `${name}: batch() serves on the model's device`);
    results[name] = { first, stacked: await stacked.toTypedArray() };
    stacked.dispose();
    cache.dispose();
  }
  for (const name of ['cpu', 'tooBig']) {
    assert.deepEqual(results[name].first, results.gpu.first);
    assert.deepEqual(results[name].stacked, results.gpu.stacked);
  }
  model.dispose();
});
