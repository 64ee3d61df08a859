import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';

import { SeqSam, Tensor, tinyConfig } from '../dist/lib/index.js';
import { tempDir, mulberry32 } from './helpers.mjs';

// Each image has two annotators who disagree in kind, not in degree: one marks the top half of the
// lesion box, the other the bottom half (in random order). No single mask can agree with both.
function twoModeBatch(batch, seed) {
  const random = mulberry32(seed);
  const [channels, grid, low] = [32, 16, 64];
  const embeddings = Float32Array.from({ length: batch * channels * grid * grid }, () => random() - 0.5);
  const boxes = new Float32Array(batch * 4);
  const labels = new Float32Array(batch * 2 * low * low);
  for (let b = 0; b < batch; b++) {
    const x0 = 20 + Math.floor(random() * 100), y0 = 20 + Math.floor(random() * 100);
    const w = 60 + Math.floor(random() * 60), h = 60 + Math.floor(random() * 60);
    boxes.set([x0, y0, x0 + w, y0 + h], b * 4);
    const swap = random() < 0.5;
    for (let y = 0; y < low; y++) {
      for (let x = 0; x < low; x++) {
        const px = x * 4 + 2, py = y * 4 + 2;
        if (px < x0 || px > x0 + w || py < y0 || py > y0 + h) continue;
        const k = (py < y0 + h / 2) !== swap ? 0 : 1;
        labels[(b * 2 + k) * low * low + y * low + x] = 1;
      }
    }
  }
  return {
    embeddings: Tensor.from(embeddings, [batch, channels, grid, grid]),
    boxes: Tensor.from(boxes, [batch, 4]),
    labels: Tensor.from(labels, [batch, 2, low, low]),
  };
}

// Mean over labels of the best Dice any hypothesis reaches (1 − cost).
async function coverage(result) {
  const [b, m, k] = result.cost.shape;
  const cost = await result.cost.toTypedArray();
  let total = 0;
  for (let i = 0; i < b; i++) {
    for (let l = 0; l < k; l++) {
      let best = 0;
      for (let j = 0; j < m; j++) best = Math.max(best, 1 - cost[(i * m + j) * k + l]);
      total += best;
    }
  }
  return total / (b * k);
}

test('SeqSAM learns both annotation modes where single-mask SAM collapses to one', async () => {
  const batch = twoModeBatch(4, 1);
  const scores = {};
  for (const objective of ['seqsam', 'sam-det']) {
    const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { objective, numMasks: 2, lr: 3e-3, seed: 1 } });
    let first;
    let last;
    for (let step = 0; step < 150; step++) {
      const r = await model.trainStep(batch);
      if (step === 0) first = r.loss;
      last = r.loss;
      r.dispose();
    }
    assert.ok(last < first, `${objective}: loss ${first} → ${last} did not fall`);
    const evaluation = await model.evalStep(batch, { numMasks: 2 });
    scores[objective] = await coverage(evaluation);
    evaluation.dispose();
    model.dispose();
  }
  // Half of a box against its other half: a single mask can reach Dice 2/3 with both at best.
  assert.ok(scores.seqsam > 0.8, `SeqSAM coverage ${scores.seqsam}`);
  assert.ok(scores['sam-det'] < 0.72, `sam-det coverage ${scores['sam-det']}`);
  assert.ok(scores.seqsam - scores['sam-det'] > 0.15, JSON.stringify(scores));
});

test('SAM-MCL scores three heads and picks the best one against one non-blank label', async () => {
  const batch = twoModeBatch(3, 2);
  // Blank out the second annotator of image 0: the target must then be label 0.
  const labels = await batch.labels.toTypedArray();
  labels.fill(0, 64 * 64, 2 * 64 * 64);
  const withBlank = { ...batch, labels: Tensor.from(labels, [3, 2, 64, 64]) };
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { objective: 'sam-mcl', seed: 5 } });
  for (let i = 0; i < 5; i++) {
    const r = await model.trainStep(withBlank, { update: false });
    assert.deepEqual(r.logits.shape, [3, 3, 64, 64]);
    const winners = Array.from(await r.assignment.toTypedArray(), Number);
    const targets = Array.from(await r.cost.toTypedArray(), Number);
    assert.equal(targets[0], 0, 'the blank label is never the target');
    assert.ok(winners.every((w) => w >= 0 && w < 3));
    r.dispose();
  }
  model.dispose();
});

test('a resumed run continues exactly like an uninterrupted one', async (t) => {
  const dir = tempDir(t);
  const batch = twoModeBatch(2, 3);
  const training = { numMasks: 4, lr: 1e-3, seed: 11 };
  const straight = await SeqSam.load({ config: tinyConfig, seed: 4, training });
  const expected = [];
  for (let i = 0; i < 5; i++) expected.push((await straight.trainStep(batch)).loss);
  straight.dispose();

  const first = await SeqSam.load({ config: tinyConfig, seed: 4, training });
  const losses = [];
  for (let i = 0; i < 3; i++) losses.push((await first.trainStep(batch)).loss);
  const path = join(dir, 'step3.safetensors');
  await first.save(path);
  first.dispose();
  const resumed = await SeqSam.load({ config: tinyConfig, checkpoint: path });
  assert.deepEqual(resumed.training, training);
  for (let i = 0; i < 2; i++) losses.push((await resumed.trainStep(batch)).loss);
  resumed.dispose();
  assert.deepEqual(losses, expected);
});

test('training options are checked', async () => {
  const model = await SeqSam.load({ config: tinyConfig });
  await assert.rejects(model.trainStep(twoModeBatch(1, 1)), (e) => e.code === 'ERR_ARGUMENT' && /configureTraining/.test(e.message));
  assert.throws(() => model.configureTraining({ pooling: 'sideways' }), (e) => e.code === 'ERR_ARGUMENT' && /pooling/.test(e.message));
  assert.throws(() => model.configureTraining({ objective: 'magic' }), (e) => e.code === 'ERR_ARGUMENT' && /objective/.test(e.message));
  assert.throws(() => model.configureTraining({ betas: [1.5, 0.9] }), (e) => e.code === 'ERR_ARGUMENT' && /betas/.test(e.message));
  model.configureTraining({});
  const batch = twoModeBatch(2, 1);
  const wrongLabels = { ...batch, labels: Tensor.from(new Float32Array(2 * 2 * 32 * 32), [2, 2, 32, 32]) };
  await assert.rejects(model.trainStep(wrongLabels), (e) => e.code === 'ERR_SHAPE' && /64x64/.test(e.message));
  const wrongBoxes = { ...batch, boxes: Tensor.from(new Float32Array(3 * 4), [3, 4]) };
  await assert.rejects(model.trainStep(wrongBoxes), (e) => e.code === 'ERR_SHAPE' && /boxes/.test(e.message));
  model.dispose();
});
