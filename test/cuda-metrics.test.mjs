// The multi-rater metrics computed on a CUDA device (the Hungarian-matched IoU through the GPU assignment
// kernel) equal the CPU's.
import assert from 'node:assert/strict';
import test from 'node:test';

import { Tensor, info } from '../dist/lib/index.js';
import * as metrics from '../dist/lib/metrics.js';
import { mulberry32 } from './helpers.mjs';

const skip = info().cuda ? false : 'CUDA is not available';

test('metrics on the GPU equal the CPU metrics (M = 6 predictions, K = 4 labels, lcm 12)', { skip }, async () => {
  const random = mulberry32(11);
  const [n, m, k, side] = [16, 6, 4, 32];
  const logits = Float32Array.from({ length: n * m * side * side }, () => random() - 0.4);
  const labels = Uint8Array.from({ length: n * k * side * side }, () => (random() < 0.35 ? 1 : 0));
  const results = {};
  for (const device of ['cpu', 'cuda']) {
    const p = Tensor.from(logits, [n, m, side, side], { device });
    const l = Tensor.from(labels, [n, k, side, side], { dtype: 'uint8', device });
    results[device] = await metrics.compute(p, l);
    p.dispose();
    l.dispose();
  }
  for (const [name] of metrics.metricNames) {
    const cpu = results.cpu.perImage[name];
    const gpu = results.cuda.perImage[name];
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(cpu[i])) assert.ok(Number.isNaN(gpu[i]), `${name}[${i}]`);
      else assert.ok(Math.abs(cpu[i] - gpu[i]) <= 1e-12, `${name}[${i}]: cpu ${cpu[i]}, gpu ${gpu[i]}`);
    }
  }
});
