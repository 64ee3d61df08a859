// predictStream and PredictTransform: order, equality with one-by-one predict, batching, embedding reuse,
// backpressure, cancellation and per-request errors — on the tiny model, real native calls throughout.
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import sharp from 'sharp';

import { SeqSam, tensorStats, tinyConfig } from '../dist/lib/index.js';
import { PredictTransform } from '../dist/lib/model/stream/predict-transform.js';
import { EmbeddingCache } from '../dist/lib/model/stream/embedding-cache.js';
import { ImageEmbedding } from '../dist/lib/index.js';
import { Tensor } from '../dist/lib/index.js';
import { relativeL2 } from './helpers.mjs';

const model = await SeqSam.load({ config: tinyConfig, seed: 3 });
test.after(() => model.dispose());

function image(seed, width = 64, height = 48) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * (seed + 1) * 7 + seed * 13) % 251;
  return { data, width, height, channels: 3 };
}

const values = async (t) => Array.from(await t.toTypedArray());

// Counts native calls while leaving them real.
function countCalls(target, name) {
  const original = target[name];
  const counter = { calls: 0, restore: () => (target[name] = original) };
  target[name] = function (...args) {
    counter.calls++;
    return original.apply(this, args);
  };
  return counter;
}

test('results come in input order and equal one-by-one predict, batched and with repeats from the cache', async () => {
  const images = [image(1), image(2), image(3, 40, 40), image(4)];
  const requests = Array.from({ length: 16 }, (_, i) => {
    const img = images[i % images.length];
    return i % 3 === 0
      ? { image: img, points: [[10 + i, 12], [20, 20]], pointLabels: [1, 0], numMasks: 3 }
      : { image: img, box: [2 + (i % 8), 3, 30 + (i % 8), 35], numMasks: 3 };
  });
  const before = tensorStats().live;
  const predicts = countCalls(model, 'predict');
  const embeds = countCalls(model, 'embedPixels');
  const outputs = [];
  try {
    for await (const out of model.predictStream(requests, { batchSize: 8, maxDelayMs: 20 })) outputs.push(out);
  } finally {
    predicts.restore();
    embeds.restore();
  }
  assert.deepEqual(outputs.map((o) => o.index), requests.map((_, i) => i));
  assert.ok(embeds.calls < images.length + 1, `${embeds.calls} encoder calls for ${images.length} distinct images`);
  assert.ok(predicts.calls < requests.length, `${predicts.calls} decoder calls for ${requests.length} requests: batched`);
  assert.equal(outputs.filter((o) => o.cached).length, requests.length - images.length, 'every repeat reuses an embedding');
  for (const [i, out] of outputs.entries()) {
    const { image: img, ...prompt } = requests[i];
    const embedding = await model.embed(img);
    const single = await model.predict(embedding, prompt);
    assert.deepEqual(out.masks.shape, single.masks.shape);
    assert.deepEqual(out.mean.shape, single.mean.shape);
    assert.ok(relativeL2(await values(out.masks), await values(single.masks)) < 1e-4, `request ${i}: masks differ from predict`);
    assert.ok(relativeL2(await values(out.variance), await values(single.variance)) < 1e-3, `request ${i}: variance differs from predict`);
    single.dispose();
    embedding.dispose();
    out.dispose();
  }
  assert.equal(tensorStats().live, before, 'no tensor outlives the stream');
});

test('images as encoded buffers and file paths key by content', async (t) => {
  const png = await sharp(Buffer.from(image(5).data), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync('/tmp/seqsam-stream-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(`${dir}/a.png`, png);
  const requests = [{ image: png, box: [1, 1, 30, 30] }, { image: `${dir}/a.png`, box: [5, 5, 40, 40] }, { image: Buffer.from(png), box: [0, 0, 64, 48] }];
  const cached = [];
  for await (const out of model.predictStream(requests)) {
    cached.push(out.cached);
    assert.deepEqual(out.masks.shape, [1, 4, 48, 64]);
    out.dispose();
  }
  assert.deepEqual(cached, [false, true, true]);
});

test('a slow consumer stalls the source: reads stay within maxInFlight, live tensors stay flat', async () => {
  let pulled = 0;
  async function* endless() {
    for (let i = 0; ; i++) {
      pulled++;
      yield { image: image(i % 3), box: [1, 1, 40, 40], numMasks: 2 };
    }
  }
  const maxInFlight = 6;
  const before = tensorStats().live;
  let consumed = 0;
  let maxAhead = 0;
  let maxLive = 0;
  for await (const out of model.predictStream(endless(), { batchSize: 3, maxInFlight, maxDelayMs: 2 })) {
    out.dispose();
    consumed++;
    maxAhead = Math.max(maxAhead, pulled - consumed);
    maxLive = Math.max(maxLive, tensorStats().live - before);
    await sleep(30);
    if (consumed === 25) break;
  }
  assert.ok(maxAhead <= maxInFlight + 1, `the source ran ${maxAhead} requests ahead of the consumer (bound ${maxInFlight})`);
  // Per request at most 5 result tensors, plus 3 cached embeddings: a bound independent of the stream's length.
  assert.ok(maxLive <= maxInFlight * 5 + 3 + 4, `live tensors grew to ${maxLive}`);
  await sleep(20);
  assert.equal(tensorStats().live, before, 'leaving the loop early disposes everything');
});

test('an aborted signal ends the stream with ERR_ABORTED, stops the source and disposes what it held', async () => {
  const controller = new AbortController();
  let sourceClosed = false;
  async function* endless() {
    try {
      for (let i = 0; ; i++) yield { image: image(i % 4), box: [1, 1, 40, 40] };
    } finally {
      sourceClosed = true;
    }
  }
  const before = tensorStats().live;
  let seen = 0;
  await assert.rejects(
    (async () => {
      for await (const out of model.predictStream(endless(), { signal: controller.signal, batchSize: 2 })) {
        out.dispose();
        if (++seen === 3) controller.abort();
      }
    })(),
    (e) => e.code === 'ERR_ABORTED',
  );
  await sleep(50);
  assert.ok(sourceClosed, "the source's finally ran");
  assert.equal(tensorStats().live, before);
  const aborted = AbortSignal.abort();
  await assert.rejects(model.predictStream([{ image: image(1), box: [1, 1, 2, 2] }], { signal: aborted }).next(), (e) => e.code === 'ERR_ABORTED');
});

test("refused requests: 'yield' puts a coded failure in their place, 'throw' ends the stream there", async () => {
  const good = { image: image(7), box: [1, 1, 30, 30] };
  const requests = [
    good,
    { image: image(7), box: [1, 1, 300, 30] }, // outside the 64×48 image
    { image: image(7), box: [NaN, 1, 3, 3] },
    { box: [1, 1, 2, 2] }, // no image
    { image: Buffer.from('not an image'), box: [1, 1, 2, 2] },
    { image: image(7), points: [[1, 1]], numMasks: 0 },
    { image: '/nonexistent/seqsam.png', box: [1, 1, 2, 2] },
    { image: image(7), box: [1, 1, 2, 2], colour: 'red' },
    good,
  ];
  const outputs = [];
  for await (const out of model.predictStream(requests, { errors: 'yield' })) {
    outputs.push(out.error ? out.error.code : 'ok');
    out.dispose?.();
  }
  assert.deepEqual(outputs, ['ok', 'ERR_ARGUMENT', 'ERR_ARGUMENT', 'ERR_ARGUMENT', 'ERR_ARGUMENT', 'ERR_ARGUMENT', 'ERR_IO', 'ERR_ARGUMENT', 'ok']);
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const out of model.predictStream(requests)) {
        seen.push(out.index);
        out.dispose();
      }
    })(),
    (e) => e.code === 'ERR_ARGUMENT' && /request 1/.test(e.message) && /outside/.test(e.message),
  );
  assert.deepEqual(seen, [0]);
  await assert.rejects(model.predictStream(requests, { batchSize: 0 }).next(), (e) => e.code === 'ERR_ARGUMENT' && /batchSize/.test(e.message));
  await assert.rejects(model.predictStream(requests, { batchsize: 4 }).next(), (e) => e.code === 'ERR_ARGUMENT' && /batchsize/.test(e.message));
});

test('PredictTransform: an object-mode Transform in a pipeline keeps order', async () => {
  const requests = Array.from({ length: 10 }, (_, i) => ({ image: image(i % 2), box: [i, 0, 40, 40], numMasks: 2 }));
  const indices = [];
  await pipeline(
    Readable.from(requests),
    new PredictTransform(model, { batchSize: 4 }),
    new Writable({
      objectMode: true,
      highWaterMark: 1,
      write(out, _encoding, callback) {
        indices.push(out.index);
        assert.deepEqual(out.masks.shape, [1, 2, 48, 64]);
        out.dispose();
        setTimeout(callback, 5);
      },
    }),
  );
  assert.deepEqual(indices, requests.map((_, i) => i));
});

test('the embedding cache keeps within its byte budget, least recently used out first, pinned ones kept', () => {
  const make = () => new ImageEmbedding(Tensor.from(new Float32Array(256), [1, 256]), [1, 1], [1, 1]); // 1 KiB each
  const cache = new EmbeddingCache(2048);
  for (const key of ['a', 'b']) {
    const r = cache.reserve(key);
    r.fulfil(make());
    r.lease.release();
  }
  cache.lookup('a').release(); // a is now the most recent
  const pinned = cache.reserve('c');
  pinned.fulfil(make());
  assert.equal(cache.lookup('b'), undefined, 'b, the least recent, went');
  assert.ok(cache.lookup('a'), 'a stayed');
  assert.ok(cache.bytes <= 2048);
  const big = cache.reserve('d');
  big.fulfil(make()); // over budget while a and c are pinned
  assert.equal(cache.bytes, 3072);
  pinned.lease.release();
  assert.ok(cache.bytes <= 2048, 'eviction catches up once unpinned');
  cache.clear();
  big.lease.release();
});
