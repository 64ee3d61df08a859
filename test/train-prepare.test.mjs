// prepareSample geometry (hand-computed cases) and the learning-rate schedules.
import assert from 'node:assert/strict';
import test from 'node:test';

import { prepareSample, prepareImage, resizedSize, tightBox } from '../dist/lib/data/prepare.js';
import { constant, cosine, createSchedule, linear } from '../dist/lib/train/schedules.js';

// A width×height sample whose labels are given as lists of foreground pixels [x, y].
function sample(width, height, labelPixels, channels = 1) {
  const data = new Uint8Array(width * height * channels).map((_, i) => i % 251);
  const labels = labelPixels.map((pixels) => {
    const m = new Uint8Array(width * height);
    for (const [x, y] of pixels) m[y * width + x] = 1;
    return m;
  });
  return { id: 's', group: 'g', image: { data, width, height, channels }, labels };
}

const constantRng = (v) => () => v;

test('non-square image: resize, padding and nearest sampling onto the low-res grid', () => {
  // 8 wide, 4 high, encoder 16: scale 2 → resized 8×16 (h×w), padded to 16×16; low-res 4×4, cell = 4 px.
  // Cell centres 2, 6, 10, 14 map to columns ⌊c·8/16⌋ = 1, 3, 5, 7 and rows ⌊c·4/8⌋ = 1, 3, then padding.
  const s = sample(8, 4, [[[3, 1], [5, 3], [0, 0], [2, 2]]]);
  const p = prepareSample(s, { imageSize: 16, lowResSize: 4 });
  assert.deepEqual(p.inputSize, [8, 16]);
  assert.deepEqual(p.originalSize, [4, 8]);
  const expected = new Float32Array(16);
  expected[0 * 4 + 1] = 1; // row y=1, col x=3
  expected[1 * 4 + 2] = 1; // row y=3, col x=5
  assert.deepEqual(p.labels, expected);
  // (0, 0) and (2, 2) fall between sampled pixels; rows 2 and 3 are padding.
  assert.deepEqual(p.labelMask, Float32Array.of(1));
  // Tight box of the label [0, 0, 5, 3] (inclusive indices), scaled by 2 on both axes.
  assert.deepEqual(p.boxOriginal, [0, 0, 5, 3]);
  assert.deepEqual(p.box, [0, 0, 10, 6]);
  assert.equal(p.lowResSize, 4);
  assert.equal(p.numLabels, 1);
});

test('tall image: padding on the right, and the default low-res size imageSize / 4', () => {
  // 2 wide, 4 high, encoder 16: scale 4 → resized 16×8; low-res 4: columns ⌊c·2/8⌋ = 0, 1 for c = 2, 6,
  // c = 10, 14 are padding; rows ⌊c·4/16⌋ = 0, 1, 2, 3.
  const s = sample(2, 4, [[[0, 0], [1, 1], [1, 2], [0, 3]]]);
  const p = prepareSample(s, { imageSize: 16 });
  assert.equal(p.lowResSize, 4);
  assert.deepEqual(Array.from(p.labels), [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(p.box, [0, 0, 4, 12]);
});

test('box scaling per axis as SAM rounds the resized size', () => {
  // 100×60 at 256: long side 256, short side ⌊60·2.56 + 0.5⌋ = 154.
  assert.deepEqual(resizedSize(60, 100, 256), [154, 256]);
  const s = sample(100, 60, [[[10, 20], [50, 40]]]);
  const p = prepareSample(s, { imageSize: 256, lowResSize: 64 });
  assert.deepEqual(p.inputSize, [154, 256]);
  const [x0, y0, x1, y1] = p.box;
  assert.equal(x0, 10 * 2.56);
  assert.equal(x1, 50 * 2.56);
  assert.ok(Math.abs(y0 - (20 * 154) / 60) < 1e-12);
  assert.ok(Math.abs(y1 - (40 * 154) / 60) < 1e-12);
  // A label covering the whole image fills low-res rows 0..37: from i = 38 on the cell centres
  // (i + ½)·4 ≥ 154 lie in the padding.
  const full = { ...s, labels: [new Uint8Array(100 * 60).fill(1)] };
  const f = prepareSample(full, { imageSize: 256, lowResSize: 64 });
  for (let i = 0; i < 64; i++) {
    const row = Array.from(f.labels.subarray(i * 64, (i + 1) * 64));
    assert.ok(row.every((v) => v === (i < 38 ? 1 : 0)), `row ${i}`);
  }
  assert.deepEqual(f.box, [0, 0, 99 * 2.56, (59 * 154) / 60]);
});

test('blank labels: the whole image is the box and the label mask is 0', () => {
  const s = sample(8, 4, [[], []]);
  const p = prepareSample(s, { imageSize: 16, lowResSize: 4, jitter: 5 });
  assert.deepEqual(p.boxOriginal, [0, 0, 8, 4]);
  assert.deepEqual(p.box, [0, 0, 16, 8]);
  assert.equal(p.boxLabel, -1);
  assert.deepEqual(p.labelMask, Float32Array.of(0, 0));
  assert.ok(p.labels.every((v) => v === 0));
});

test('random-label boxes never come from a blank label; union covers all labels', () => {
  const s = sample(16, 16, [[], [[2, 3], [4, 5]], [], [[10, 1], [12, 9]]]);
  const opts = { imageSize: 16, lowResSize: 4 };
  const low = prepareSample(s, { ...opts, rng: constantRng(0) });
  const high = prepareSample(s, { ...opts, rng: constantRng(0.999) });
  assert.equal(low.boxLabel, 1);
  assert.deepEqual(low.boxOriginal, [2, 3, 4, 5]);
  assert.equal(high.boxLabel, 3);
  assert.deepEqual(high.boxOriginal, [10, 1, 12, 9]);
  const union = prepareSample(s, { ...opts, boxFrom: 'union' });
  assert.deepEqual(union.boxOriginal, [2, 1, 12, 9]);
  assert.equal(union.boxLabel, -1);
  // Same seed, same box; the draws are seeded.
  let seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(prepareSample(s, { ...opts, rng: constantRng(i / 50) }).boxLabel);
  assert.deepEqual([...seen].sort(), [1, 3]);
  assert.deepEqual(prepareSample(s, opts).box, prepareSample(s, opts).box);
});

test('jitter widens each side by 0..jitter pixels, clipped to the image', () => {
  const s = sample(16, 16, [[[2, 3], [12, 14]]]);
  const opts = { imageSize: 16, lowResSize: 4, jitter: 5 };
  // The first draw picks the label; with 0.999 every side then moves by the full 5 px.
  const p = prepareSample(s, { ...opts, rng: constantRng(0.999) });
  assert.deepEqual(p.boxOriginal, [0, 0, 16, 16]);
  const q = prepareSample(s, { ...opts, rng: constantRng(0) });
  assert.deepEqual(q.boxOriginal, [2, 3, 12, 14]);
  const r = prepareSample(s, { ...opts, jitter: 1, rng: constantRng(0.6) });
  assert.deepEqual(r.boxOriginal, [1, 2, 13, 15]);
  assert.throws(() => prepareSample(s, { ...opts, jitter: 1.5 }), (e) => e.code === 'ERR_ARGUMENT');
});

test('images become three channels; minmax stretches onto 0..255', () => {
  const grey = { data: Uint8Array.of(10, 20, 30, 40), width: 2, height: 2, channels: 1 };
  const rgb = prepareImage(grey);
  assert.equal(rgb.channels, 3);
  assert.deepEqual(Array.from(rgb.data), [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]);
  const stretched = prepareImage(grey, { intensity: 'minmax' });
  assert.ok(stretched.data instanceof Float32Array);
  assert.deepEqual(Array.from(stretched.data).filter((_, i) => i % 3 === 0), [0, 85, 170, 255]);
  const rgba = { data: Uint8Array.of(1, 2, 3, 255, 4, 5, 6, 255), width: 2, height: 1, channels: 4 };
  assert.deepEqual(Array.from(prepareImage(rgba).data), [1, 2, 3, 4, 5, 6]);
  const floats = { data: Float32Array.of(0.5, 1.5), width: 2, height: 1, channels: 1 };
  assert.ok(prepareImage(floats).data instanceof Float32Array);
  assert.deepEqual(tightBox(Uint8Array.of(0, 0, 0, 0), 2, 2), null);
});

test('bad inputs are refused', () => {
  const s = sample(4, 4, [[[1, 1]]]);
  assert.throws(() => prepareSample(s, { imageSize: 0 }), (e) => e.code === 'ERR_ARGUMENT');
  assert.throws(() => prepareSample(s, { imageSize: 16, boxFrom: 'middle' }), (e) => e.code === 'ERR_ARGUMENT');
  assert.throws(() => prepareSample({ ...s, labels: [new Uint8Array(3)] }, { imageSize: 16 }), (e) => e.code === 'ERR_SHAPE');
});

test('schedules follow their formulas', () => {
  const close = (a, b) => assert.ok(Math.abs(a - b) < 1e-15, `${a} != ${b}`);
  const c = constant(1e-3);
  close(c(0), 1e-3);
  close(c(1000), 1e-3);
  // HF linear decay without warmup: lr·(1 − s/total).
  const l = linear(1e-3, 10);
  for (const s of [0, 1, 5, 9, 10, 12]) close(l(s), 1e-3 * Math.max(0, 1 - s / 10));
  // With warmup: lr·s/w, then lr·(total − s)/(total − w).
  const lw = linear(1e-3, 10, { warmupSteps: 2 });
  close(lw(0), 0);
  close(lw(1), 5e-4);
  close(lw(2), 1e-3);
  close(lw(6), (1e-3 * 4) / 8);
  close(lw(10), 0);
  // Cosine: warmup, then minLr + (lr − minLr)·½(1 + cos(π·p)).
  const cs = cosine(1e-3, 12, { warmupSteps: 2, minLr: 1e-5 });
  close(cs(1), 5e-4);
  close(cs(2), 1e-3);
  close(cs(7), 1e-5 + (1e-3 - 1e-5) * 0.5);
  close(cs(12), 1e-5);
  for (let s = 2; s < 12; s++) assert.ok(cs(s + 1) <= cs(s));
  // Specs resolve against the run's length.
  close(createSchedule({ type: 'linear', lr: 2e-4 }, 4)(2), 1e-4);
  close(createSchedule({ type: 'cosine', lr: 2e-4, warmupRatio: 0.25 }, 8)(1), 1e-4);
  const fn = (s) => s;
  assert.equal(createSchedule(fn, 3), fn);
  assert.throws(() => createSchedule({ type: 'step', lr: 1 }, 4), (e) => e.code === 'ERR_ARGUMENT');
  assert.throws(() => l(-1), (e) => e.code === 'ERR_ARGUMENT');
});

test('the progress bar draws on a TTY, stays off elsewhere unless forced', async () => {
  const { createProgressBar, renderProgress, formatDuration } = await import('../dist/lib/train/progress-bar.js');
  const event = { epoch: 0, epochs: 2, step: 4, totalSteps: 8, loss: 0.5, lr: 1e-4, imagesPerSecond: 3.25, etaSeconds: 65 };
  const line = renderProgress(event, 10);
  assert.match(line, /^█{5}░{5}  50% 4\/8 epoch 1\/2 loss 0\.5000 lr 1\.00e-4 3\.3 img\/s eta 01:05$/);
  assert.equal(formatDuration(3725), '1:02:05');
  const written = [];
  const stream = (isTTY) => ({ isTTY, columns: 200, write: (s) => written.push(s) });
  const tick = () => new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(createProgressBar({ stream: stream(false) }), null);
  const bar = createProgressBar({ stream: stream(true), throttleMs: 5 });
  bar.update(event);
  await tick();
  bar.log('eval');
  bar.update({ ...event, step: 8 });
  await tick();
  bar.stop();
  const text = written.join('');
  assert.ok(text.includes('4/8') && text.includes('8/8') && text.includes('eval\n'), JSON.stringify(text));
  assert.ok(text.indexOf('eval') < text.lastIndexOf('8/8'), 'the log line goes above the bar');
  const forced = createProgressBar({ stream: stream(false), force: true, throttleMs: 5 });
  written.length = 0;
  forced.update(event);
  await tick();
  forced.stop();
  const lines = written.join('').split('\n').filter(Boolean);
  assert.ok(lines.length >= 1 && lines.every((l) => l.includes('4/8 epoch 1/2')), JSON.stringify(lines));
});
