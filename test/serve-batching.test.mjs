// Concurrent predictions share native decoder calls: 20 at once on one embedded image make fewer calls to
// the model's predict than requests, and each answer is the one it would have had alone.
import assert from 'node:assert/strict';
import test from 'node:test';

import sharp from 'sharp';

import { SeqSam, tinyConfig } from '../dist/lib/index.js';
import { PredictionBatcher } from '../dist/lib/serve/prediction-batcher.js';
import { startServer } from '../dist/lib/serve/server.js';
import { diskPng, post } from './serve-fixtures.mjs';

/** The tiny model with its predict counted (the method the batcher's decoder batches call). */
async function countedModel(t) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 7 });
  t.after(() => model.dispose());
  const predict = model.predict.bind(model);
  const counter = { calls: 0, prompts: 0 };
  model.predict = (embedding, prompt) => {
    counter.calls++;
    counter.prompts += prompt.boxes?.length ?? prompt.pointSets?.length ?? 1;
    return predict(embedding, prompt);
  };
  return { model, counter };
}

const boxOf = (i) => [10 + (i % 7) * 4, 12 + (i % 5) * 3, 110 + (i % 4) * 5, 95 + (i % 3) * 6];

function relativeL2(a, b) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

const greyPixels = async (base64) => sharp(Buffer.from(base64, 'base64')).raw().toBuffer();

function maxPixelDifference(a, b) {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

test('PredictionBatcher: 20 concurrent prompts, fewer native calls, the logits of one-by-one predict', async (t) => {
  const { model, counter } = await countedModel(t);
  const embedding = await model.embed(await diskPng());
  t.after(() => embedding.dispose());
  const prompts = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? { points: [[40 + i, 50], [90, 60]], pointLabels: [1, 0], numMasks: 3 } : { box: boxOf(i), numMasks: 3 }));
  const alone = [];
  for (const prompt of prompts) {
    const out = await model.predict(embedding, prompt);
    alone.push(await out.masks.toTypedArray());
    out.dispose();
  }
  const batcher = new PredictionBatcher(model, { batchSize: 8, maxDelayMs: 5 });
  counter.calls = 0;
  const outs = await Promise.all(prompts.map((prompt) => batcher.predict(embedding, prompt)));
  t.diagnostic(`20 prompts (box and points kinds) in ${counter.calls} native decoder calls`);
  assert.ok(counter.calls < prompts.length, `${counter.calls} calls for ${prompts.length} prompts`);
  for (const [i, out] of outs.entries()) {
    assert.deepEqual(out.masks.shape, [1, 3, 120, 160]);
    const error = relativeL2(await out.masks.toTypedArray(), alone[i]);
    assert.ok(error < 1e-4, `prompt ${i}: relative L2 ${error}`);
    out.dispose();
  }
  await batcher.close();
  await assert.rejects(batcher.predict(embedding, prompts[0]), { code: 'ERR_ABORTED' });
});

test('seqsam serve: 20 concurrent /v1/predict share decoder calls and answer as one by one; a bad one among them is refused alone', { timeout: 120_000 }, async (t) => {
  const { model, counter } = await countedModel(t);
  const server = await startServer(model, { host: '127.0.0.1', port: 0, batching: { batchSize: 8, maxDelayMs: 5 } });
  t.after(() => server.close());
  const { json: { id } } = await post(`${server.url}/v1/embed`, { image: (await diskPng()).toString('base64') });
  const bodies = Array.from({ length: 20 }, (_, i) => ({ id, box: boxOf(i), numMasks: 4, format: i % 2 ? 'png' : 'rle' }));
  const oneByOne = [];
  for (const body of bodies) oneByOne.push(await post(`${server.url}/v1/predict`, body));
  assert.equal(counter.calls, bodies.length, 'one request at a time: one call each');
  counter.calls = 0;
  counter.prompts = 0;
  const bad = post(`${server.url}/v1/predict`, { id, box: [10, 10, 999, 50], numMasks: 4 }); // outside the image
  const together = await Promise.all(bodies.map((body) => post(`${server.url}/v1/predict`, body)));
  t.diagnostic(`20 concurrent requests in ${counter.calls} native decoder calls`);
  assert.ok(counter.calls < bodies.length, `${counter.calls} calls for ${bodies.length} requests`);
  assert.equal(counter.prompts, bodies.length, 'the refused prompt never reached the model');
  const refused = await bad;
  assert.equal(refused.status, 400);
  assert.equal(refused.json.code, 'ERR_ARGUMENT');
  for (const [i, answer] of together.entries()) {
    assert.equal(answer.status, 200);
    const alone = oneByOne[i].json;
    assert.deepEqual(answer.json.masks, alone.masks, `request ${i}: masks`);
    assert.deepEqual(answer.json.areas, alone.areas);
    // The mean map is 8-bit: float noise of the batched call may move a pixel across a rounding step.
    assert.ok(maxPixelDifference(await greyPixels(answer.json.mean), await greyPixels(alone.mean)) <= 1, `request ${i}: mean map`);
    answer.json.iou.forEach((v, k) => assert.ok(Math.abs(v - alone.iou[k]) < 1e-4, `request ${i}: iou ${v} vs ${alone.iou[k]}`));
  }
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test('seqsam serve: batching options are checked', async (t) => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 7 });
  t.after(() => model.dispose());
  await assert.rejects(startServer(model, { port: 0, batching: { batchSize: 0 } }), { code: 'ERR_ARGUMENT' });
  await assert.rejects(startServer(model, { port: 0, batching: { maxDelayMs: -1 } }), { code: 'ERR_ARGUMENT' });
});
