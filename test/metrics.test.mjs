import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { Tensor, checkpoint, tensorStats } from '../dist/lib/index.js';
import * as metrics from '../dist/lib/metrics.js';
import { fixture as fixturePath, fixtureTest, fixturesMissing, mulberry32 } from './helpers.mjs';

// The reference metrics, where the fixtures are present; the tests that match them are skipped otherwise.
const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixturePath('metrics', 'metrics.json'), 'utf8'));
const fixture = fixturesMissing ? null : (await checkpoint.readSafetensors(fixturePath('metrics', 'metrics.safetensors'))).tensors;

// Our camelCase name for each of the reference's names.
const ourName = Object.fromEntries(metrics.metricNames.map(([ours, native]) => [native, ours]));

// ---------------------------------------------------------------------------------------------------------
// Independent plain-JS definitions, one image at a time: masks are arrays of 0/1 arrays.

const sum = (a) => a.reduce((s, v) => s + v, 0);
const inter = (a, b) => a.reduce((s, v, i) => s + (v && b[i] ? 1 : 0), 0);
const diceRaw = (a, b) => (2 * inter(a, b)) / (sum(a) + sum(b)); // 0/0 = NaN, as numpy
const iou = (a, b, bothEmpty) => {
  const i = inter(a, b);
  const u = sum(a) + sum(b) - i;
  return u === 0 ? bothEmpty : i / u;
};
const mean = (a) => sum(a) / a.length;

// Python's min()/max() over a list: a NaN first element sticks, later NaNs are skipped.
const pyMin = (list) => list.slice(1).reduce((m, v) => (v < m ? v : m), list[0]);
const pyMax = (list) => list.slice(1).reduce((m, v) => (v > m ? v : m), list[0]);

function referenceImage(preds, labels) {
  const m = preds.length;
  const k = labels.length;
  const pixels = preds[0].length;
  const majority = Array.from({ length: pixels }, (_, x) => {
    const avg = preds.reduce((s, p) => s + p[x], 0) / m;
    // numpy's round: half to even
    const r = Math.round(avg);
    return Math.abs(avg - Math.floor(avg) - 0.5) < 1e-12 ? (Math.floor(avg) % 2 === 0 ? Math.floor(avg) : Math.floor(avg) + 1) : r;
  });
  const calc = (t, p) => (sum(t) === 0 && sum(p) === 0 ? 0 : diceRaw(p, t));
  const dice = mean(labels.map((t) => calc(t, majority)));
  const nonBlank = labels.filter((t) => sum(t) > 0);
  const diceNod = nonBlank.length ? mean(nonBlank.map((t) => diceRaw(majority, t))) : NaN;
  const diceMax = mean(preds.map((p) => labels.map((l) => diceRaw(p, l)).reduce((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)))));
  const d = (a, b) => 1 - iou(a, b, 1);
  const pairs = (as, bs) => as.flatMap((a) => bs.map((b) => d(a, b)));
  const sampleDiversity = mean(pairs(preds, preds));
  const labelDiversity = mean(pairs(labels, labels));
  const ged = 2 * mean(pairs(preds, labels)) - sampleDiversity - labelDiversity;
  const predUnion = Array.from({ length: pixels }, (_, x) => (preds.some((p) => p[x]) ? 1 : 0));
  const labelUnion = Array.from({ length: pixels }, (_, x) => (labels.some((l) => l[x]) ? 1 : 0));
  const tp = inter(predUnion, labelUnion);
  const fn = labelUnion.reduce((s, v, x) => s + (v && !predUnion[x] ? 1 : 0), 0);
  const sc = tp / (tp + fn);
  const offPairs = (ms) => {
    const out = [];
    ms.forEach((a, i) => ms.forEach((b, j) => i !== j && out.push(1 - diceRaw(a, b))));
    return out.length ? out : [0];
  };
  const dp = offPairs(preds);
  const dl = offPairs(labels);
  const da = 1 - (Math.abs(pyMin(dp) - pyMin(dl)) + Math.abs(pyMax(dp) - pyMax(dl))) / 2;
  const collectiveInsight = (3 * sc * diceMax * da) / (sc + diceMax + da);
  return { dice, diceMax, diceNoBlank: diceNod, ged, sampleDiversity, labelDiversity, collectiveInsight, hmIou: bruteForceHmIou(preds, labels) };
}

const gcd = (a, b) => (b === 0 ? a : gcd(b, a % b));

// Best mean IoU over every permutation matching lcm(M, K) replicated predictions to replicated labels.
function bruteForceHmIou(preds, labels) {
  const m = preds.length;
  const k = labels.length;
  const l = (m * k) / gcd(m, k);
  const matrix = preds.map((p) => labels.map((t) => iou(p, t, 1)));
  const value = (r, c) => matrix[Math.floor(r / (l / m))][Math.floor(c / (l / k))];
  let best = -Infinity;
  const used = new Array(l).fill(false);
  const visit = (row, total) => {
    if (row === l) {
      best = Math.max(best, total);
      return;
    }
    for (let c = 0; c < l; c++) {
      if (used[c]) continue;
      used[c] = true;
      visit(row + 1, total + value(row, c));
      used[c] = false;
    }
  };
  visit(0, 0);
  return best / l;
}

// Splits flat (N, C, P) data into per-image arrays of C masks.
function split(data, n, c, p, binarise) {
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: c }, (_, j) => Array.from(data.subarray((i * c + j) * p, (i * c + j + 1) * p), (v) => (binarise(Number(v)) ? 1 : 0))),
  );
}

function randomMasks(random, n, c, p, density, blankChance) {
  const data = new Uint8Array(n * c * p);
  for (let i = 0; i < n * c; i++) {
    if (random() < blankChance) continue;
    const d = density * (0.3 + random());
    for (let x = 0; x < p; x++) data[i * p + x] = random() < d ? 1 : 0;
  }
  return data;
}

function assertClose(actual, expected, tolerance, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i])) assert.ok(Number.isNaN(actual[i]), `${what}[${i}]: expected NaN, got ${actual[i]}`);
    else assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

// ---------------------------------------------------------------------------------------------------------

fixtureTest('per-image metrics and means match the reference fixture to 1e-6', async () => {
  const result = await metrics.compute(fixture.pred_logits, fixture.labels);
  const compared = Object.keys(reference.per_sample);
  assert.ok(compared.length >= 7, `fixture metrics: ${compared}`);
  for (const name of compared) {
    const ours = ourName[name];
    assert.ok(ours, `no metric for the fixture's '${name}'`);
    assertClose(result.perImage[ours], reference.per_sample[name], 1e-6, name);
  }
  for (const [name, value] of Object.entries(reference.mean)) {
    assert.ok(Math.abs(result.mean[ourName[name]] - value) <= 1e-6, `mean ${name}: ${result.mean[ourName[name]]} vs ${value}`);
  }
  for (const values of Object.values(result.perImage)) assert.equal(values.length, 8);
});

fixtureTest('raw { data, shape } inputs, masks and thresholds give the same metrics as logits', async () => {
  const shape = fixture.pred_logits.shape;
  const logits = await fixture.pred_logits.toTypedArray();
  const labels = await fixture.labels.toTypedArray();
  const expected = await metrics.compute(fixture.pred_logits, fixture.labels);
  const live = tensorStats().live;

  const raw = await metrics.compute({ data: logits, shape }, { data: labels, shape: fixture.labels.shape });
  assert.deepEqual(raw.perImage, expected.perImage);

  const masks = Uint8Array.from(logits, (v) => (v > 0 ? 1 : 0));
  const asBool = await metrics.compute({ data: masks, shape, dtype: 'bool' }, { data: labels, shape, dtype: 'bool' });
  assert.deepEqual(asBool.perImage, expected.perImage);
  const asUint8 = await metrics.compute({ data: masks, shape }, { data: Float32Array.from(labels), shape });
  assert.deepEqual(asUint8.perImage, expected.perImage);

  // A threshold applies to float predictions: logits − 0.5 thresholded at −0.5 are the same masks.
  const shifted = Float32Array.from(logits, (v) => v - 0.5);
  const moved = await metrics.compute({ data: shifted, shape }, fixture.labels, { threshold: -0.5 });
  assert.deepEqual(moved.perImage, expected.perImage);
  const otherThreshold = await metrics.compute(fixture.pred_logits, fixture.labels, { threshold: 0.5 });
  const masksAtHalf = Uint8Array.from(logits, (v) => (v > 0.5 ? 1 : 0));
  assert.deepEqual(otherThreshold.perImage, (await metrics.compute({ data: masksAtHalf, shape }, fixture.labels)).perImage);

  assert.equal(tensorStats().live, live, 'converted inputs and native results are disposed');
});

fixtureTest('hm_iou equals a brute force over permutations of the replicated sets (fixture images)', async () => {
  const [n, m, h, w] = fixture.pred_logits.shape;
  const k = fixture.labels.shape[1];
  const preds = split(await fixture.pred_logits.toTypedArray(), n, m, h * w, (v) => v > 0);
  const labels = split(await fixture.labels.toTypedArray(), n, k, h * w, (v) => v !== 0);
  const result = await metrics.compute(fixture.pred_logits, fixture.labels);
  assertClose(result.perImage.hmIou, preds.map((p, i) => bruteForceHmIou(p, labels[i])), 1e-12, 'hmIou');
});

test('every metric equals plain-JS definitions on small random cases (blank masks, M ≠ K, M = 1, K = 1)', async () => {
  const random = mulberry32(7);
  const shapes = [
    [2, 3], [3, 2], [1, 3], [3, 1], [2, 2], [1, 1], [4, 2], [2, 4], [3, 3], [6, 3], [5, 1], [1, 6],
  ];
  let checked = 0;
  let nanInsight = 0;
  let nanDiceMax = 0;
  for (const [m, k] of shapes) {
    for (const blankChance of [0, 0.3, 0.7]) {
      const n = 6;
      const h = 5;
      const w = 4;
      const p = h * w;
      const predData = randomMasks(random, n, m, p, 0.35, blankChance);
      const labelData = randomMasks(random, n, k, p, 0.35, blankChance);
      const result = await metrics.compute({ data: predData, shape: [n, m, h, w] }, { data: labelData, shape: [n, k, h, w] });
      const preds = split(predData, n, m, p, (v) => v !== 0);
      const labels = split(labelData, n, k, p, (v) => v !== 0);
      const expected = preds.map((pr, i) => referenceImage(pr, labels[i]));
      for (const [key] of metrics.metricNames) {
        assertClose(result.perImage[key], expected.map((e) => e[key]), 1e-12, `M=${m} K=${k} blank=${blankChance} ${key}`);
      }
      checked += n;
      nanInsight += result.perImage.collectiveInsight.filter(Number.isNaN).length;
      nanDiceMax += result.perImage.diceMax.filter(Number.isNaN).length;
    }
  }
  assert.ok(checked >= 200);
  assert.ok(nanInsight > 0 && nanDiceMax > 0, "the cases reach the reference's 0/0 paths");
});

test('all-blank labels: dice_nod is NaN and the mean skips it; empty masks follow the reference', async () => {
  const [h, w] = [4, 4];
  const full = new Uint8Array(16).fill(1);
  const preds = new Uint8Array(2 * 2 * 16);
  preds.set(full, 0); // image 0: one full, one empty prediction
  preds.set(full, 32); // image 1: two full predictions
  preds.set(full, 48);
  const labels = new Uint8Array(2 * 2 * 16);
  labels.set(full, 32); // image 0: both labels blank; image 1: one full label, one blank
  const result = await metrics.compute({ data: preds, shape: [2, 2, h, w] }, { data: labels, shape: [2, 2, h, w] });
  assert.ok(Number.isNaN(result.perImage.diceNoBlank[0]));
  assert.equal(result.perImage.diceNoBlank[1], 1);
  assert.equal(result.mean.diceNoBlank, 1);
  assert.equal(result.std.diceNoBlank, 0);
  assert.equal(result.perImage.dice[0], 0); // majority vote empty, labels empty: Dice 0
  assert.ok(Number.isNaN(result.perImage.diceMax[0])); // the empty prediction against empty labels: 0/0
  assert.ok(Number.isNaN(result.perImage.collectiveInsight[0])); // no label foreground: sensitivity 0/0
  assert.equal(result.perImage.labelDiversity[0], 0);
  assert.equal(result.perImage.hmIou[0], 0.5); // the empty prediction matches an empty label with IoU 1
  assert.equal(result.perImage.hmIou[1], 0.5); // full predictions: one full label (1), one blank (0)
});

test('summarize skips NaN and uses the population std; format prints one line per metric', () => {
  const perImage = Object.fromEntries(metrics.metricNames.map(([key]) => [key, [1, NaN, 3]]));
  perImage.hmIou = [NaN, NaN];
  const { mean, std } = metrics.summarize(perImage);
  assert.equal(mean.dice, 2);
  assert.equal(std.dice, 1);
  assert.ok(Number.isNaN(mean.hmIou) && Number.isNaN(std.hmIou));
  const text = metrics.format({ perImage, mean, std });
  const lines = text.split('\n');
  assert.equal(lines.length, metrics.metricNames.length);
  assert.match(lines[0], /^dice\s+2\.0000 ± 1\.0000$/);
  assert.match(lines.at(-1), /^hmIou\s+nan ± nan$/);
});

test('mismatched or malformed shapes are ERR_SHAPE naming the shapes', async () => {
  const t = (shape) => Tensor.from(new Uint8Array(shape.reduce((a, b) => a * b, 1)), shape);
  const cases = [
    [[2, 3, 8, 8], [3, 3, 8, 8]],
    [[2, 3, 8, 8], [2, 3, 8, 7]],
    [[2, 3, 8, 8], [2, 3, 6, 8]],
    [[3, 8, 8], [2, 3, 8, 8]],
    [[2, 3, 8, 8], [2, 8, 8]],
    [[2, 0, 8, 8], [2, 3, 8, 8]],
    [[2, 3, 8, 8], [2, 0, 8, 8]],
  ];
  for (const [ps, ls] of cases) {
    const predictions = t(ps);
    const labels = t(ls);
    await assert.rejects(metrics.compute(predictions, labels), (error) => {
      assert.equal(error.code, 'ERR_SHAPE', `${ps} vs ${ls}: ${error.message}`);
      const named = error.message.includes(`[${ps.join(', ')}]`) || error.message.includes(`[${ls.join(', ')}]`);
      assert.ok(named, `message names the shapes: ${error.message}`);
      return true;
    });
    predictions.dispose();
    labels.dispose();
  }
  const logits = Tensor.from(new Float32Array(2 * 3 * 8 * 8).map((_, i) => (i % 3) - 1), [2, 3, 8, 8]);
  const labels = t([2, 3, 8, 8]);
  await assert.rejects(metrics.compute({ data: [1, 2], shape: [2] }, labels), { code: 'ERR_ARGUMENT' });
  await assert.rejects(metrics.compute(logits, labels, { threshold: 'x' }), { code: 'ERR_ARGUMENT' });
  logits.dispose();
  labels.dispose();
});
