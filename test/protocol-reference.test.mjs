// The reference-protocol options, each against a small computation written here independently of the
// package: row-wise baseline Dice, pick-indexed blank masking, the file-order split, the ×255 LIDC
// intensity, QUBIQ's 8-bit wrap, and AdamW's decay exemption of biases and LayerNorm weights.
import assert from 'node:assert/strict';
import test from 'node:test';

import { SeqSam, Tensor, tinyConfig } from '../dist/lib/index.js';
import { splitByGroup, splitInFileOrder } from '../dist/lib/data/index.js';
import { referenceIntensityImage } from '../dist/lib/data/lidc-intensity.js';
import { referenceQubiqIntensities, referenceQubiqLabel } from '../dist/lib/data/qubiq-reference.js';
import { resolveTrainingProtocol } from '../dist/lib/model/training-protocol.js';
import { setLoss, winnerLoss } from '../dist/lib/objective-ops.js';
import { mulberry32 } from './helpers.mjs';

const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const smooth = 1e-5;

function randomLogits(random, n) {
  return Float32Array.from({ length: n }, () => (random() - 0.5) * 6);
}

function randomMasks(random, n, density = 0.4) {
  return Float32Array.from({ length: n }, () => (random() < density ? 1 : 0));
}

// Squared soft Dice loss of one probability map against one label, over the index ranges given.
function diceLoss(p, g) {
  let inter = 0, pp = 0, gg = 0;
  for (let i = 0; i < p.length; i++) {
    inter += p[i] * g[i];
    pp += p[i] * p[i];
    gg += g[i] * g[i];
  }
  return 1 - (2 * inter + smooth) / (pp + gg + smooth);
}

test('row-wise baseline Dice: a Dice per image row, averaged over rows, minimum over heads, mean over the batch', () => {
  const random = mulberry32(3);
  const [B, heads, K, H, W] = [2, 3, 2, 5, 6];
  const logits = randomLogits(random, B * heads * H * W);
  const labels = randomMasks(random, B * K * H * W);
  // Row 0 of image 0's target is blank in the label: a row with no foreground on one side still counts.
  const targets = [1, 0];
  let expected = 0;
  for (let b = 0; b < B; b++) {
    let best = Infinity;
    for (let h = 0; h < heads; h++) {
      let rows = 0;
      for (let y = 0; y < H; y++) {
        const p = [], g = [];
        for (let x = 0; x < W; x++) {
          p.push(sigmoid(logits[((b * heads + h) * H + y) * W + x]));
          g.push(labels[((b * K + targets[b]) * H + y) * W + x]);
        }
        rows += diceLoss(p, g);
      }
      best = Math.min(best, rows / H);
    }
    expected += best / B;
  }
  const args = [
    Tensor.from(logits, [B, heads, H, W]),
    Tensor.from(labels, [B, K, H, W]),
    Tensor.from(BigInt64Array.from(targets, BigInt), [B]),
  ];
  const rowWise = winnerLoss(...args, { baselineDice: 'row-wise' });
  assert.ok(Math.abs(rowWise.loss - expected) < 1e-5, `row-wise ${rowWise.loss} vs ${expected}`);
  const whole = winnerLoss(...args);
  assert.ok(Math.abs(whole.loss - rowWise.loss) > 1e-4, 'the whole-mask Dice is a different number');
});

// All permutations of 0..n-1.
function permutations(n) {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

test('pick-indexed blank masking weighs pair r by label r, the matched-label default by the matched label', async () => {
  const [M, K, H, W] = [4, 3, 4, 4];
  // Hand-made: pick 0 (step 3) resembles label 2, pick 1 (step 0) label 0, pick 2 (step 2) label 1, so
  // the exact assignment is 0→2, 1→0, 2→1 and label 1's mask lands on pick 2 in one rule, pick 1 in the other.
  const quadrant = (k) => Float32Array.from({ length: H * W }, (_, i) => {
    const [y, x] = [Math.floor(i / W), i % W];
    return [y < 2 && x < 2, y >= 2 && x < 2, x >= 2][k] ? 1 : 0;
  });
  const labels = new Float32Array(K * H * W);
  for (let k = 0; k < K; k++) labels.set(quadrant(k), k * H * W);
  const logits = new Float32Array(M * H * W);
  const resemble = (step, k, jitter) => {
    const q = quadrant(k);
    for (let i = 0; i < H * W; i++) logits[step * H * W + i] = (q[i] ? 2 : -2) + jitter * Math.sin(7 * i + step);
  };
  resemble(3, 2, 0.5);
  resemble(0, 0, 0.8);
  resemble(2, 1, 0.3);
  resemble(1, 0, 0.1);
  const labelMask = [1, 0, 1]; // label 1 counts as blank
  const picks = [3, 0, 2];
  // The cost matrix by hand: pick r (step picks[r]) against every label.
  const cost = picks.map((step) =>
    Array.from({ length: K }, (_, k) => {
      const p = Array.from({ length: H * W }, (_, i) => sigmoid(logits[step * H * W + i]));
      return diceLoss(p, labels.subarray(k * H * W, (k + 1) * H * W));
    }),
  );
  // Exact assignment by trying every permutation.
  let best = null;
  for (const perm of permutations(K)) {
    const total = perm.reduce((s, k, r) => s + cost[r][k], 0);
    if (!best || total < best.total) best = { perm, total };
  }
  const byMatched = best.perm.reduce((s, k, r) => s + cost[r][k] * labelMask[k], 0) / K;
  const byPick = best.perm.reduce((s, k, r) => s + cost[r][k] * labelMask[r], 0) / K;
  assert.deepEqual(best.perm, [2, 0, 1]);
  assert.ok(Math.abs(byMatched - byPick) > 1e-4, `this case must tell the two apart (${byMatched} vs ${byPick})`);

  const args = [
    Tensor.from(logits, [1, M, H, W]),
    Tensor.from(labels, [1, K, H, W]),
    Tensor.from(Float32Array.from(labelMask), [1, K]),
    Tensor.from(BigInt64Array.from(picks, BigInt), [1, K]),
  ];
  const matched = setLoss(...args);
  const pickIndexed = setLoss(...args, { blankMasking: 'pick-index' });
  assert.deepEqual([...(await matched.assignment.toTypedArray())].map(Number), [2, 0, 1]);
  assert.ok(Math.abs(matched.loss - byMatched) < 1e-5, `matched-label ${matched.loss} vs ${byMatched}`);
  assert.ok(Math.abs(pickIndexed.loss - byPick) < 1e-5, `pick-index ${pickIndexed.loss} vs ${byPick}`);
});

test('pick-indexed blank masking refuses more picks than labels', () => {
  const args = [Tensor.from(new Float32Array(16), [1, 4, 2, 2]), Tensor.from(new Float32Array(8), [1, 2, 2, 2]), Tensor.from(Float32Array.from([1, 1]), [1, 2]), Tensor.from(new BigInt64Array([0n, 1n, 2n]), [1, 3])];
  assert.throws(() => setLoss(...args, { blankMasking: 'pick-index' }), /at most K = 2 picks/);
});

test("the reference split: file order, validation the first floor((1 - 0.9)·N), test the next as many", () => {
  for (const n of [0, 1, 9, 10, 11, 20, 57, 100, 1001, 15096]) {
    // The reference's formula, written out: split = floor((1.0 - 0.9) * N) in double precision.
    const split = Math.floor((1.0 - 0.9) * n);
    const indices = Array.from({ length: n }, (_, i) => i);
    const expected = { train: indices.slice(2 * split), val: indices.slice(0, split), test: indices.slice(split, 2 * split) };
    assert.deepEqual(splitInFileOrder(n), expected, `N = ${n}`);
    assert.deepEqual(splitByGroup(n, { by: 'reference' }), expected, `N = ${n} through splitByGroup`);
  }
  // 0.1·10 is a whole number, but 1 − 0.9 is just below 0.1: the reference holds out nothing.
  assert.deepEqual(splitInFileOrder(10).val, []);
  assert.equal(splitInFileOrder(15096).val.length, 1509);
});

test('LIDC reference intensity: floor(255·x) as 8 bits, i.e. ImageNet mean/std applied to x in [0, 1]', () => {
  const data = Float32Array.from([0, 0.25, 0.5, 0.999, 1, 0.1]);
  const image = referenceIntensityImage({ data, width: 3, height: 2, channels: 1 });
  assert.ok(image.data instanceof Uint8Array, '8-bit data: the model takes it as it is, no min–max window');
  assert.deepEqual([...image.data], [0, 63, 127, 254, 255, 25]);
  // By hand: SAM's mean/std on 0..255 (123.675, 58.395 for the first channel) against the processor's
  // ImageNet mean/std on [0, 1] (0.485, 0.229): within the 8-bit truncation (less than 1/255 before scaling).
  for (let i = 0; i < data.length; i++) {
    const ours = (image.data[i] - 123.675) / 58.395;
    const reference = (data[i] - 0.485) / 0.229;
    assert.ok(Math.abs(ours - reference) <= 1 / 255 / 0.229 + 1e-6, `pixel ${i}: ${ours} vs ${reference}`);
  }
  // A crop that does not span 0..1 keeps its level (minmax would stretch it over 0..255).
  const dim = referenceIntensityImage({ data: Float32Array.from([0.2, 0.4]), width: 2, height: 1, channels: 1 });
  assert.deepEqual([...dim.data], [51, 102]);
});

test("QUBIQ reference intensities: shift by |min|, 256·x/max truncated to 8 bits, the maximum wrapping to 0", () => {
  assert.deepEqual([...referenceQubiqIntensities([-2, -1, 0, 2])], [0, 64, 128, 0]);
  // A positive minimum is added, not subtracted: 1..3 becomes 2..4.
  assert.deepEqual([...referenceQubiqIntensities([1, 2, 3])], [128, 192, 0]);
  // 0.3..1 becomes 0.6..1.3: 256·0.6/1.3 = 118.2, 256·1/1.3 = 196.9.
  assert.deepEqual([...referenceQubiqIntensities([0.3, 0.7, 1])], [118, 196, 0]);
  assert.deepEqual([...referenceQubiqIntensities([0, 0])], [0, 0]);
});

test('QUBIQ reference labels: resized bicubically to 256² and thresholded at > 0', () => {
  const full = referenceQubiqLabel(new Float64Array(8 * 8).fill(1), 8, 8);
  assert.equal(full.length, 256 * 256);
  assert.ok(full.every((v) => v === 1));
  // One foreground pixel in a 4×4 label spreads over more than its 64×64 share: bicubic weights are
  // positive out to about one input pixel, and anything above 0 counts.
  const one = new Float64Array(16);
  one[5] = 1;
  const resized = referenceQubiqLabel(one, 4, 4);
  const count = resized.reduce((s, v) => s + v, 0);
  assert.ok(count > 64 * 64, `${count} foreground pixels`);
});

// One batch for the tiny model: random embeddings, one box, two labels.
function tinyBatch(seed) {
  const random = mulberry32(seed);
  const [channels, grid, low] = [32, 16, 64];
  const labels = new Float32Array(2 * low * low);
  for (let y = 10; y < 40; y++) for (let x = 12; x < 44; x++) labels[y * low + x] = 1;
  for (let y = 20; y < 50; y++) for (let x = 20; x < 52; x++) labels[low * low + y * low + x] = 1;
  return {
    embeddings: Tensor.from(Float32Array.from({ length: channels * grid * grid }, () => random() - 0.5), [1, channels, grid, grid]),
    boxes: Tensor.from(Float32Array.from([40, 40, 210, 210]), [1, 4]),
    labels: Tensor.from(labels, [1, 2, low, low]),
  };
}

async function weightsAfterOneStep(training) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { numMasks: 2, lr: 1e-2, seed: 1, ...training } });
  const before = {};
  for (const [name, t] of Object.entries(model.stateDict())) before[name] = await t.toTypedArray();
  (await model.trainStep(tinyBatch(5))).dispose();
  const after = {};
  for (const [name, t] of Object.entries(model.stateDict())) after[name] = await t.toTypedArray();
  model.dispose();
  return { before, after };
}

test("decay exemption: biases and LayerNorm weights skip the decay, others decay by lr·wd", async () => {
  const lr = 1e-2, wd = 0.5;
  const plain = await weightsAfterOneStep({ weightDecay: 0, decayExempt: 'bias-and-norm' });
  const decayed = await weightsAfterOneStep({ weightDecay: wd, decayExempt: 'bias-and-norm' });
  const everyDecay = await weightsAfterOneStep({ weightDecay: wd });
  const exempt = (name) => /\.bias$/.test(name) || /\.norm[^.]*\.weight$/.test(name);
  const seen = { exempt: 0, decays: 0 };
  for (const name of Object.keys(plain.after)) {
    const p0 = plain.before[name];
    const trained = plain.after[name].some((v, i) => v !== p0[i]);
    if (!trained) continue; // frozen encoder, or no gradient
    // Decay is applied before the Adam update, so the only difference is −lr·wd·p0.
    for (let i = 0; i < p0.length; i++) {
      const difference = decayed.after[name][i] - plain.after[name][i];
      const expected = exempt(name) ? 0 : -lr * wd * p0[i];
      assert.ok(Math.abs(difference - expected) <= 1e-6 + 1e-4 * Math.abs(p0[i]), `${name}[${i}]: ${difference} vs ${expected}`);
    }
    seen[exempt(name) ? 'exempt' : 'decays']++;
    if (exempt(name) && p0.some((v) => v !== 0)) {
      // Without the exemption the same weight decays.
      const i = p0.findIndex((v) => v !== 0);
      assert.ok(Math.abs(everyDecay.after[name][i] - plain.after[name][i] + lr * wd * p0[i]) <= 1e-6 + 1e-4 * Math.abs(p0[i]), `${name} decays with decayExempt 'none'`);
    }
  }
  assert.ok(seen.exempt > 5 && seen.decays > 5, JSON.stringify(seen));
  assert.ok(Object.keys(plain.after).some((n) => /transformer\.layers\.0\.norm1\.weight$/.test(n)), 'a LayerNorm weight is among the trained parameters');
});

test("protocol 'reference' sets the reference's training settings, under those given explicitly", async () => {
  assert.deepEqual(resolveTrainingProtocol({ protocol: 'reference' }), {
    protocol: 'reference',
    gradClip: 1,
    decayExempt: 'bias-and-norm',
    baselineDice: 'row-wise',
    blankMasking: 'pick-index',
  });
  assert.equal(resolveTrainingProtocol({ protocol: 'reference', gradClip: 0.5 }).gradClip, 0.5);
  assert.deepEqual(resolveTrainingProtocol({ lr: 1e-3 }), { lr: 1e-3 });
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { protocol: 'reference' } });
  assert.equal(model.training.protocol, 'reference');
  model.dispose();
  await assert.rejects(SeqSam.load({ config: tinyConfig, training: { protocol: 'paper' } }), /protocol must be 'reference'/);
});
