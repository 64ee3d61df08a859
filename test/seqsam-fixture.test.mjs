import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { SeqSam, Tensor, checkpoint, disposeAll } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, relativeL2 } from './helpers.mjs';

// Every test here matches the reference fixtures: all are skipped, with the reason, where they are absent.
const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray(), Number);

async function assertClose(actual, expectedTensor, name, tolerance) {
  const a = await values(actual);
  const e = await values(expectedTensor);
  assert.equal(a.length, e.length, `${name}: ${actual.shape} vs ${expectedTensor.shape}`);
  const error = relativeL2(a, e);
  assert.ok(error < tolerance, `${name}: relative L2 error ${error.toExponential(2)} ≥ ${tolerance}`);
}

const seq = reference?.seqsam;
const picks = seq && Tensor.from(BigInt64Array.from(seq.chosen_indices.map(BigInt)), [1, seq.chosen_indices.length]);
const batch = (withPicks) => ({
  embeddings: expected.image_embeddings,
  boxes: expected['seq.box'],
  labels: expected['seq.labels'],
  labelMask: expected['seq.label_mask'],
  ...(withPicks ? { picks } : {}),
});
const gradientNames = Object.keys(expected ?? {}).filter((k) => k.startsWith('seq.bptt.grad.')).map((k) => k.slice('seq.bptt.grad.'.length));

for (const [variant, feedback] of [['bptt', 'backprop'], ['stop_grad', 'stop-gradient']]) {
  fixtureTest(`SeqSAM training step matches the reference: ${variant}`, async () => {
    const model = await SeqSam.load({
      config: reference.config,
      checkpoint: fixture('sam-tiny', 'seqsam.safetensors'),
      training: { numMasks: seq.steps, feedback },
    });
    const result = await model.trainStep(batch(true), { update: false });
    await assertClose(result.logits, expected[`seq.${variant}.logits`], `${variant} logits`, 1e-4);
    await assertClose(result.cost, expected[`seq.${variant}.cost`], `${variant} cost`, 1e-4);
    assert.ok(relativeL2([result.loss], await values(expected[`seq.${variant}.loss`])) < 1e-4, `${variant} loss ${result.loss}`);
    assert.deepEqual((await values(result.assignment)), seq[`${variant}_assignment`]);
    const grads = model.gradients();
    assert.ok(gradientNames.length >= 8);
    for (const name of gradientNames) {
      assert.ok(grads[name], `no gradient for ${name}`);
      await assertClose(grads[name], expected[`seq.${variant}.grad.${name}`], `${variant} grad ${name}`, 1e-3);
    }
    // The frozen encoder gets no gradient.
    assert.ok(!Object.keys(grads).some((k) => k.startsWith('image_encoder.')));
    disposeAll(grads);
    result.dispose();
    model.dispose();
  });
}

fixtureTest('the two feedback modes really differ in their gradients', async () => {
  const grads = {};
  for (const feedback of ['backprop', 'stop-gradient']) {
    const model = await SeqSam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'seqsam.safetensors'), training: { numMasks: 5, feedback } });
    (await model.trainStep(batch(true), { update: false })).dispose();
    grads[feedback] = await values(model.gradients()['prompt_encoder.mask_downscaling.0.weight']);
    model.dispose();
  }
  assert.ok(relativeL2(grads['stop-gradient'], grads.backprop) > 1e-3);
});

fixtureTest('SeqSAM evaluation matches the reference: all steps against all labels', async () => {
  const model = await SeqSam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'seqsam.safetensors'), training: {} });
  const result = await model.evalStep(batch(false), { numMasks: seq.steps });
  await assertClose(result.cost, expected['seq.eval.cost'], 'eval cost', 1e-4);
  assert.ok(relativeL2([result.loss], await values(expected['seq.eval.loss'])) < 1e-4);
  const columnOfRow = await values(result.assignment);
  const rows = columnOfRow.map((c, r) => (c >= 0 ? r : -1)).filter((r) => r >= 0);
  assert.deepEqual(rows, seq.eval_assignment_rows);
  assert.deepEqual(rows.map((r) => columnOfRow[r]), seq.eval_assignment_cols);
  await assertClose(result.logits, expected['seq.bptt.logits'], 'eval logits = training rollout', 1e-4);
  result.dispose();
  model.dispose();
});

fixtureTest('SeqSam.predict returns M masks, their IoU and the disagreement maps', async () => {
  const model = await SeqSam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'seqsam.safetensors') });
  const data = await expected.image_hwc_u8.toTypedArray();
  const embedding = await model.embed({ data, width: 192, height: 256, channels: 3 });
  const box = Array.from(await expected['seq.box'].toTypedArray());
  for (const numMasks of [5, 12]) {
    const out = await model.predict(embedding, { box, numMasks });
    assert.deepEqual(out.masks.shape, [1, numMasks, 256, 192]);
    assert.deepEqual(out.iou.shape, [1, numMasks]);
    assert.deepEqual(out.mean.shape, [1, 256, 192]);
    const low = await values(out.lowResLogits);
    // The first five steps are the reference rollout, whatever M is.
    assert.ok(relativeL2(low.slice(0, 5 * 64 * 64), await values(expected['seq.bptt.logits'])) < 1e-4);
    // mean / variance of sigmoid(masks) over M, checked by hand at a few pixels
    const masks = await values(out.masks);
    const mean = await values(out.mean);
    const variance = await values(out.variance);
    for (const pixel of [0, 1000, 30000, 256 * 192 - 1]) {
      const p = Array.from({ length: numMasks }, (_, m) => 1 / (1 + Math.exp(-masks[m * 256 * 192 + pixel])));
      const mu = p.reduce((a, b) => a + b) / numMasks;
      const v = p.reduce((a, b) => a + (b - mu) ** 2, 0) / numMasks;
      assert.ok(Math.abs(mean[pixel] - mu) < 1e-5 && Math.abs(variance[pixel] - v) < 1e-5);
    }
    out.dispose();
  }
  embedding.dispose();
  model.dispose();
});
