// Attention in the form at::scaled_dot_product_attention takes ((B, heads, N, c) tensors, the encoder's
// decomposed rel-pos bias as the attention mask) against the official reference outputs. SEQSAM_ATTENTION
// picks the path per call: 'sdpa' forces that form (LibTorch 2.x: the fused kernels; 1.13: the same formula
// written out), 'explicit' the cache-tuned formulas. On CUDA the default is the fused path on 2.x.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { Sam, checkpoint, info } from '../dist/lib/index.js';
import { fixture, fixturePrompt, fixtureTest, fixturesMissing, relativeL2, withEnvironment } from './helpers.mjs';

// The reference fixtures, where present; the tests that match them are skipped otherwise.
const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());

async function rawImage() {
  const data = await expected.image_hwc_u8.toTypedArray();
  const [height, width] = expected.image_hwc_u8.shape;
  return { data, width, height, channels: 3 };
}

// Embeddings and every reference case's low-res logits, on `device` with attention path `path`.
async function check(device, path, tolerance) {
  return withEnvironment({ SEQSAM_ATTENTION: path }, async () => {
    const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors'), device });
    const embedding = await sam.embed(await rawImage());
    const errors = [relativeL2(await values(embedding.tensor), await values(expected.image_embeddings))];
    for (const c of reference.cases) {
      const out = await sam.predict(embedding, fixturePrompt(c, expected));
      errors.push(relativeL2(await values(out.lowResLogits), await values(expected[`${c.name}.low_res_logits`])));
      out.dispose();
    }
    embedding.dispose();
    sam.dispose();
    const worst = Math.max(...errors);
    assert.ok(worst < tolerance, `${device}, attention ${path ?? 'default'}: relative L2 ${worst.toExponential(2)} ≥ ${tolerance}`);
    return worst;
  });
}

fixtureTest('SDPA-form attention (rel-pos bias as the mask) matches the reference on the CPU', async (t) => {
  const sdpa = await check('cpu', 'sdpa', 1e-4);
  const explicit = await check('cpu', 'explicit', 1e-4);
  t.diagnostic(`worst relative L2: sdpa form ${sdpa.toExponential(2)}, explicit ${explicit.toExponential(2)}`);
});

fixtureTest('CUDA attention (fused SDPA on LibTorch 2.x) matches the reference', { skip: info().cuda ? false : 'CUDA is not available' }, async (t) => {
  // cuDNN convolutions may use TF32: a looser bound than on the CPU.
  const fused = await check('cuda', undefined, 5e-3);
  const explicit = await check('cuda', 'explicit', 5e-3);
  t.diagnostic(`worst relative L2: default ${fused.toExponential(2)}, explicit ${explicit.toExponential(2)}`);
});
