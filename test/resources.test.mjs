// Load and resources: many predict calls keep resident memory flat and native tensors at their
// baseline; tensors are freed by dispose and by GC; concurrent calls match sequential ones; training one
// model while another predicts changes neither.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';

import { SeqSam, Tensor, tensorStats, tinyConfig } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

const gc = globalThis.gc;
let model;
let embedding;

const image = (seed) => {
  const random = mulberry32(seed);
  return { data: new Uint8Array(32 * 24 * 3).map(() => Math.floor(random() * 256)), width: 32, height: 24, channels: 3 };
};

before(async () => {
  model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  embedding = await model.embed(image(1));
});
after(() => {
  embedding?.dispose();
  model?.dispose();
});

// Full collections, with turns of the event loop in between so that finalizers run.
async function collect() {
  for (let i = 0; i < 6; i++) {
    gc();
    await tick();
  }
}

const values = async (t) => Array.from(await t.toTypedArray());

test('1,000 predict calls: resident memory stays flat, live tensors return to baseline', { skip: !gc && 'needs node --expose-gc', timeout: 180_000 }, async (t) => {
  const call = async (i) => {
    const out = await model.predict(embedding, { box: [i % 8, 1, 20 + (i % 10), 20], numMasks: 2 });
    out.dispose();
  };
  for (let i = 0; i < 200; i++) await call(i); // warm up allocator pools and caches
  await collect();
  const baseline = tensorStats();
  const rssBefore = process.memoryUsage().rss;
  for (let i = 0; i < 1000; i++) await call(i);
  await collect();
  const rssAfter = process.memoryUsage().rss;
  assert.deepEqual(tensorStats(), baseline);
  const growth = (rssAfter - rssBefore) / 2 ** 20;
  t.diagnostic(`RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB → ${(rssAfter / 2 ** 20).toFixed(1)} MiB after 1,000 predicts (${growth.toFixed(1)} MiB)`);
  // A leak of one mask set per call would add ~20 MiB here. AddressSanitizer holds freed memory in
  // quarantine, so under it (scripts/sanitize.sh) only the tensor count is checked.
  if (!/libasan/.test(process.env.LD_PRELOAD ?? '')) assert.ok(growth < 12, `RSS grew by ${growth.toFixed(1)} MiB`);
});

test('tensors are freed by dispose and, when forgotten, by GC', { skip: !gc && 'needs node --expose-gc' }, async () => {
  await collect();
  const baseline = tensorStats();
  const out = await model.predict(embedding, { box: [1, 1, 20, 20], numMasks: 3 });
  assert.equal(tensorStats().live, baseline.live + 5); // masks, lowResLogits, iou, mean, variance
  out.dispose();
  assert.deepEqual(tensorStats(), baseline);
  for (let i = 0; i < 20; i++) await model.predict(embedding, { box: [1, 1, 20, 20], numMasks: 3 }); // never disposed
  // Made in a function of its own, so that no variable of this one keeps it alive.
  (() => Tensor.from(new Float32Array(4 << 20), [4 << 20]))();
  assert.ok(tensorStats().bytes >= baseline.bytes + 16 * 2 ** 20);
  await collect();
  assert.deepEqual(tensorStats(), baseline);
});

test('concurrent predict calls give the sequential results', async () => {
  const prompts = Array.from({ length: 24 }, (_, i) => ({ box: [i % 6, (i * 3) % 5, 14 + (i % 12), 12 + (i % 11)], numMasks: 1 + (i % 4) }));
  const sequential = [];
  for (const p of prompts) {
    const out = await model.predict(embedding, p);
    sequential.push(await values(out.masks));
    out.dispose();
  }
  const concurrent = await Promise.all(
    prompts.map(async (p) => {
      const out = await model.predict(embedding, p);
      const v = await values(out.masks);
      out.dispose();
      return v;
    }),
  );
  concurrent.forEach((v, i) => assert.deepEqual(v, sequential[i], `prompt ${i}`));
});

test('training one model while another predicts changes neither', { timeout: 120_000 }, async () => {
  const training = { numMasks: 4, lr: 1e-3, seed: 5 };
  const random = mulberry32(3);
  const embeddings = Tensor.from(Float32Array.from({ length: 2 * 32 * 16 * 16 }, () => random() - 0.5), [2, 32, 16, 16]);
  const boxes = Tensor.from(Float32Array.from([10, 10, 120, 140, 30, 40, 200, 220]), [2, 4]);
  const labels = Tensor.from(Uint8Array.from({ length: 2 * 3 * 64 * 64 }, (_, i) => (i % 64 > 20 && i % 64 < 40 ? 1 : 0)), [2, 3, 64, 64]);
  const trainAlone = async () => {
    const m = await SeqSam.load({ config: tinyConfig, seed: 7, training });
    const losses = [];
    for (let i = 0; i < 6; i++) losses.push((await m.trainStep({ embeddings, boxes, labels })).loss);
    m.dispose();
    return losses;
  };
  const predictMany = async () => {
    const out = [];
    for (let i = 0; i < 12; i++) {
      const p = await model.predict(embedding, { box: [2, 2, 18 + i, 20], numMasks: 2 });
      out.push(await values(p.masks));
      p.dispose();
    }
    return out;
  };
  const lossesAlone = await trainAlone();
  const predictionsAlone = await predictMany();
  const [losses, predictions] = await Promise.all([trainAlone(), predictMany()]);
  assert.deepEqual(losses, lossesAlone);
  assert.deepEqual(predictions, predictionsAlone);
  for (const t of [embeddings, boxes, labels]) t.dispose();
});
