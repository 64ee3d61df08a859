// The training step on a CUDA device queues forward, matching, backward and update without ever making the
// host wait: with SEQSAM_CUDA_SYNC_CHECK=error, any synchronising CUDA call inside the step throws.
import assert from 'node:assert/strict';
import test from 'node:test';

import { SeqSam, Tensor, info, tinyConfig } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

const skip = info().cuda && info().builtWithCuda ? false : 'needs a CUDA build and a GPU';

test('no device-to-host copy or sync between forward and optimizer step (every objective, grad clipping)', { skip }, async () => {
  process.env.SEQSAM_CUDA_SYNC_CHECK = 'error';
  try {
    const random = mulberry32(5);
    const [c, grid, low, b, k] = [tinyConfig.prompt_embed_dim, 16, 64, 4, 3];
    const batch = {
      embeddings: Tensor.from(Float32Array.from({ length: b * c * grid * grid }, () => random() - 0.5), [b, c, grid, grid], { device: 'cuda' }),
      boxes: Tensor.from(Float32Array.from({ length: b * 4 }, (_, i) => (i % 4 < 2 ? 30 : 200)), [b, 4], { device: 'cuda' }),
      labels: Tensor.from(Float32Array.from({ length: b * k * low * low }, () => (random() < 0.3 ? 1 : 0)), [b, k, low, low], { device: 'cuda' }),
    };
    for (const [objective, precision] of [['seqsam', 'fp32'], ['seqsam', 'bf16'], ['sam-mcl', 'fp32'], ['sam-det', 'fp32']]) {
      const model = await SeqSam.load({ config: tinyConfig, seed: 0, device: 'cuda', precision, training: { objective, numMasks: 4, gradClip: 1, seed: 3 } });
      for (let step = 0; step < 3; step++) {
        const r = await model.trainStep(batch);
        assert.ok(Number.isFinite(r.loss), `${objective}/${precision}: loss ${r.loss}`);
        r.dispose();
      }
      model.dispose();
    }
    for (const t of Object.values(batch)) t.dispose();
  } finally {
    delete process.env.SEQSAM_CUDA_SYNC_CHECK;
  }
});
