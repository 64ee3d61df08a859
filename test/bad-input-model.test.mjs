// Bad images, prompts and training batches are coded errors naming the fault; odd but valid images
// (16-bit, alpha) work. Every case runs on one tiny model.
import assert from 'node:assert/strict';
import { deflateSync, crc32 } from 'node:zlib';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { SeqSam, Tensor, tinyConfig } from '../dist/lib/index.js';
import { rejectsCoded } from './helpers.mjs';

let model;
let embedding;
before(async () => {
  model = await SeqSam.load({ config: tinyConfig, seed: 1, training: { numMasks: 4, lr: 1e-3 } });
  embedding = await model.embed(raw(64, 48));
});
after(() => {
  embedding?.dispose?.();
  model?.dispose();
});

function raw(width, height, channels = 3, Type = Uint8Array, fill = 50) {
  return { data: new Type(width * height * channels).fill(fill), width, height, channels };
}

// A PNG whose header claims width × height (the pixel data is whatever a 1×1 image holds).
function pngClaiming(width, height) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])));
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(4))), chunk('IEND', Buffer.alloc(0))]);
}

test('empty images are refused', async () => {
  await rejectsCoded(model.embed(raw(0, 0)), 'ERR_SHAPE', 'empty');
  await rejectsCoded(model.embed(raw(0, 10)), 'ERR_SHAPE', 'width');
  await rejectsCoded(model.embed(Buffer.alloc(0)), 'ERR_ARGUMENT', 'cannot decode');
  await rejectsCoded(model.embed([]), 'ERR_ARGUMENT', 'empty');
});

test('huge images are refused before their pixels are allocated', async () => {
  await rejectsCoded(model.embed({ data: new Uint8Array(12), width: 100_000, height: 100_000, channels: 3 }), 'ERR_SHAPE', '100000×100000×3');
  await rejectsCoded(model.embed(pngClaiming(100_000, 100_000)), 'ERR_ARGUMENT', 'cannot decode', /pixel limit|exceeds/);
});

test('16-bit and alpha images become RGB', async () => {
  const png16 = await sharp(Buffer.alloc(40 * 30 * 3 * 2, 7), { raw: { width: 40, height: 30, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  const pngAlpha = await sharp(Buffer.alloc(40 * 30 * 4, 200), { raw: { width: 40, height: 30, channels: 4 } }).png().toBuffer();
  for (const input of [png16, pngAlpha, raw(40, 30, 4), raw(40, 30, 1, Uint16Array, 4000), raw(40, 30, 3, Float32Array, -1000)]) {
    const e = await model.embed(input);
    assert.deepEqual(e.originalSize, [30, 40]);
    const values = await e.tensor.toTypedArray();
    assert.ok(values.every(Number.isFinite));
    e.dispose?.();
  }
});

test('NaN and infinite pixels are refused', async () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const image = raw(40, 30, 1, Float32Array, 0.5);
    image.data[77] = bad;
    await rejectsCoded(model.embed(image), 'ERR_ARGUMENT', /NaN|infinite/);
    // Also with an explicit window, where the min/max scan is skipped.
    await rejectsCoded(model.embed(image, { window: [0, 1] }), 'ERR_ARGUMENT', /NaN|infinite/);
  }
});

test('boxes and points outside the image are refused', async () => {
  await rejectsCoded(model.predict(embedding, { box: [0, 0, 65, 40] }), 'ERR_ARGUMENT', 'outside the 64×48 image');
  await rejectsCoded(model.predict(embedding, { box: [-1, 0, 10, 10] }), 'ERR_ARGUMENT', 'outside');
  await rejectsCoded(model.predict(embedding, { box: [10, 10, 5, 5] }), 'ERR_ARGUMENT', 'x1 < x0');
  await rejectsCoded(model.predict(embedding, { box: [0, 0, NaN, 10] }), 'ERR_ARGUMENT', 'not a finite coordinate');
  await rejectsCoded(model.predict(embedding, { box: [0, 0, 1] }), 'ERR_ARGUMENT', '[x0, y0, x1, y1]');
  await rejectsCoded(model.predict(embedding, { points: [[100, 5]], pointLabels: [1] }), 'ERR_ARGUMENT', 'outside');
  await rejectsCoded(model.predict(embedding, {}), 'ERR_ARGUMENT', 'give points or a box');
});

test('M = 0 and M beyond the limit are refused', async () => {
  for (const numMasks of [0, -1, 1.5, NaN, 1_000_000]) {
    await rejectsCoded(model.predict(embedding, { box: [0, 0, 10, 10], numMasks }), 'ERR_ARGUMENT', 'numMasks');
  }
});

const B = 2;
const embeddings = () => Tensor.from(new Float32Array(B * 32 * 16 * 16).fill(0.1), [B, 32, 16, 16]);
const boxes = () => Tensor.from(Float32Array.from([0, 0, 100, 100, 10, 10, 200, 200]), [B, 4]);
const labels = (shape, fill = 1) => Tensor.from(new Uint8Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape);

async function step(batch) {
  const e = embeddings();
  const b = boxes();
  try {
    const out = await model.trainStep({ embeddings: e, boxes: b, ...batch });
    out.dispose();
    return out.loss;
  } finally {
    e.dispose();
    b.dispose();
    for (const t of Object.values(batch)) t.dispose();
  }
}

test('K = 0 and wrong-sized labels are refused', async () => {
  await rejectsCoded(step({ labels: labels([B, 0, 64, 64]) }), 'ERR_SHAPE', 'label');
  await rejectsCoded(step({ labels: labels([B, 3, 32, 32]) }), 'ERR_SHAPE', '64x64', '32x32');
  await rejectsCoded(step({ labels: labels([B + 1, 3, 64, 64]) }), 'ERR_SHAPE', 'shape');
  await rejectsCoded(step({ labels: labels([B, 64, 64]) }), 'ERR_SHAPE', '(B, K, H, W)');
  await rejectsCoded(step({ labels: labels([B, 3, 64, 64]), labelMask: labels([B, 2]) }), 'ERR_SHAPE', 'labelMask');
});

test('labels that are all blank give a finite loss, not NaN', async () => {
  const loss = await step({ labels: labels([B, 3, 64, 64], 0) });
  assert.ok(Number.isFinite(loss), `loss ${loss}`);
  const masked = await step({ labels: labels([B, 3, 64, 64]), labelMask: labels([B, 3], 0) });
  assert.ok(Number.isFinite(masked), `loss ${masked}`);
});

test('NaN embeddings are a coded error, not a NaN loss', async () => {
  const e = Tensor.from(new Float32Array(B * 32 * 16 * 16).fill(NaN), [B, 32, 16, 16]);
  const b = boxes();
  const l = labels([B, 3, 64, 64]);
  try {
    await rejectsCoded(model.trainStep({ embeddings: e, boxes: b, labels: l }), 'ERR_ARGUMENT', /NaN/);
  } finally {
    for (const t of [e, b, l]) t.dispose();
  }
});
