// M = 1000 masks from one prompt: a long recurrence, but an ordinary call that finishes with sane output.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SeqSam, tensorStats, tinyConfig } from '../dist/lib/index.js';

test('M = 1000 runs to the end and frees what it made', { timeout: 120_000 }, async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const embedding = await model.embed({ data: new Uint8Array(32 * 24 * 3).fill(90), width: 32, height: 24, channels: 3 });
  const before = tensorStats().live;
  const out = await model.predict(embedding, { box: [2, 2, 20, 16], numMasks: 1000 });
  assert.deepEqual(out.masks.shape, [1, 1000, 24, 32]);
  const variance = await out.variance.toTypedArray();
  assert.ok(variance.every((v) => Number.isFinite(v) && v >= 0));
  out.dispose();
  assert.equal(tensorStats().live, before);
  embedding.dispose?.();
  model.dispose();
});
