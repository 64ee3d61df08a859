// M = 1000 masks from one prompt: a long recurrence. It either finishes with finite masks, or — when the
// recurrence diverges so far past the steps a model was trained for (as it does with random weights) —
// says at which step, and that many masks then come back finite. Nothing is left allocated either way.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SeqSam, SeqsamError, tensorStats, tinyConfig } from '../dist/lib/index.js';

test('M = 1000 finishes, or names the step where the recurrence diverges', { timeout: 120_000 }, async (t) => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const embedding = await model.embed({ data: new Uint8Array(32 * 24 * 3).fill(90), width: 32, height: 24, channels: 3 });
  const before = tensorStats().live;
  const prompt = { box: [2, 2, 20, 16] };
  let numMasks = 1000;
  try {
    (await model.predict(embedding, { ...prompt, numMasks })).dispose();
  } catch (error) {
    assert.ok(error instanceof SeqsamError, String(error));
    assert.equal(error.code, 'ERR_ARGUMENT');
    const [, limit] = /ask for at most (\d+) masks/.exec(error.message) ?? [];
    assert.ok(Number(limit) > 0, error.message);
    numMasks = Number(limit);
    t.diagnostic(error.message);
  }
  assert.equal(tensorStats().live, before);
  const out = await model.predict(embedding, { ...prompt, numMasks });
  assert.deepEqual(out.masks.shape, [1, numMasks, 24, 32]);
  for (const tensor of [out.masks, out.mean, out.variance]) assert.ok((await tensor.toTypedArray()).every(Number.isFinite));
  out.dispose();
  assert.equal(tensorStats().live, before);
  embedding.dispose();
  model.dispose();
});
