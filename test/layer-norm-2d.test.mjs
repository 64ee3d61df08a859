// SAM's LayerNorm2d in its two forms: the reference's formula written out (the CPU's default) and one
// layer_norm over the channel axis made last (SEQSAM_LAYER_NORM_2D=fused; the default off the CPU, where it
// launches three kernels instead of eight). Against the official reference outputs, and against each other
// through a training step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { Sam, SeqSam, checkpoint, tinyConfig } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, relativeL2, tinyEmbeddingBatch, withEnvironment } from './helpers.mjs';

const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());
const sameBits = (a, b) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

// float32 arithmetic in another summation order: the fixtures' own tolerance.
const TOLERANCE = 1e-4;

const withLayerNorm2d = (form, run) => withEnvironment({ SEQSAM_LAYER_NORM_2D: form }, run);

fixtureTest('the fused LayerNorm2d matches the reference: embeddings (the neck) and mask logits (the upscaling)', async (t) => {
  const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors') });
  const image = { data: await expected.image_hwc_u8.toTypedArray(), width: expected.image_hwc_u8.shape[1], height: expected.image_hwc_u8.shape[0], channels: 3 };
  const run = (form) => withLayerNorm2d(form, async () => {
    const embedding = await sam.embed(image);
    const out = await sam.predict(embedding, { box: reference.cases[1].box, multimask: false });
    const result = { embeddings: await values(embedding.tensor), logits: await values(out.lowResLogits) };
    out.dispose();
    embedding.dispose();
    return result;
  });
  const fused = await run('fused');
  const written = await run('explicit');
  const errors = {
    embeddings: relativeL2(fused.embeddings, await values(expected.image_embeddings)),
    logits: relativeL2(fused.logits, await values(expected['box_single.low_res_logits'])),
  };
  for (const [name, error] of Object.entries(errors)) assert.ok(error < TOLERANCE, `${name}: relative L2 ${error.toExponential(2)} from the reference`);
  // The switch took: the two forms round differently.
  assert.ok(!sameBits(fused.embeddings, written.embeddings), 'SEQSAM_LAYER_NORM_2D=fused gave the written-out form bit for bit');
  t.diagnostic(`relative L2 to the reference: embeddings ${errors.embeddings.toExponential(2)}, logits ${errors.logits.toExponential(2)}`);
  sam.dispose();
});

test('a training step through the fused LayerNorm2d (mask prompts, upscaling) equals the written-out one to float32 rounding', async (t) => {
  const batch = tinyEmbeddingBatch(41);
  // Three masks: steps 2 and 3 feed the previous logits back through the mask prompt's two LayerNorm2d.
  const step = (form) => withLayerNorm2d(form, async () => {
    const model = await SeqSam.load({ config: tinyConfig, seed: 12, training: { numMasks: 3, lr: 1e-3, seed: 13 } });
    try {
      const first = await model.trainStep(batch);
      const out = { loss: first.loss, logits: await values(first.logits) };
      first.dispose();
      (await model.trainStep(batch)).dispose();  // backward through both forms, then an update
      return out;
    } finally {
      model.dispose();
    }
  });
  const fused = await step('fused');
  const written = await step('explicit');
  const logitsError = relativeL2(fused.logits, written.logits);
  assert.ok(logitsError < TOLERANCE, `rollout logits: relative L2 ${logitsError.toExponential(2)}`);
  assert.ok(Math.abs(fused.loss - written.loss) < TOLERANCE * Math.abs(written.loss), `loss ${fused.loss} vs ${written.loss}`);
  t.diagnostic(`rollout logits relative L2 ${logitsError.toExponential(2)}; loss ${fused.loss} vs ${written.loss}`);
  for (const x of Object.values(batch)) x.dispose();
});
