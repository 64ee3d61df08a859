// The native data-parallel step: N ranks with batch b each train the same model as one rank with batch
// N·b (gradients summed in buckets and weighted by the loss's reduction, per-image draws taken from the
// whole group's draw), checked to float32 tolerance over several steps; joining errors are coded.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

import { SeqSam, Tensor, distributed, tinyConfig } from '../dist/lib/index.js';
import { freePort, spawnRanks } from './distributed-helpers.mjs';
import { mulberry32, tempDir } from './helpers.mjs';

const self = fileURLToPath(import.meta.url);
const STEPS = 4;
const GLOBAL_BATCH = 4;

// Step s's global batch: random embeddings, a box per image and two labels of random blobs.
function globalBatch(step) {
  const random = mulberry32(100 + step);
  const [channels, grid, low] = [32, 16, 64];
  const b = GLOBAL_BATCH;
  const embeddings = Float32Array.from({ length: b * channels * grid * grid }, () => random() - 0.5);
  const boxes = new Float32Array(b * 4);
  const labels = new Float32Array(b * 2 * low * low);
  for (let i = 0; i < b; i++) {
    const x0 = 20 + Math.floor(random() * 100), y0 = 20 + Math.floor(random() * 100);
    boxes.set([x0, y0, x0 + 80, y0 + 80], i * 4);
    for (let k = 0; k < 2; k++) {
      const cx = x0 / 4 + 5 + random() * 10, cy = y0 / 4 + 5 + random() * 10, r = 3 + random() * 6;
      for (let y = 0; y < low; y++) for (let x = 0; x < low; x++) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) labels[((i * 2 + k) * low + y) * low + x] = 1;
    }
  }
  return { embeddings, boxes, labels, shapes: { embeddings: [channels, grid, grid], boxes: [4], labels: [2, low, low] } };
}

// Rows [from, to) of a global batch as tensors.
function rows(batch, from, to) {
  const out = {};
  for (const key of ['embeddings', 'boxes', 'labels']) {
    const per = batch.shapes[key].reduce((a, x) => a * x, 1);
    out[key] = Tensor.from(batch[key].slice(from * per, to * per), [to - from, ...batch.shapes[key]]);
  }
  return out;
}

// Trains STEPS steps on this process's rows; writes the losses and the weights (float32, state-dict order).
async function trainRows(objective, rank, worldSize, out) {
  const model = await SeqSam.load({ config: tinyConfig, seed: rank === 0 ? 0 : 7 + rank, training: { objective, numMasks: 3, lr: 1e-3, seed: 1 } });
  const per = GLOBAL_BATCH / worldSize;
  const losses = [];
  for (let step = 0; step < STEPS; step++) {
    const batch = rows(globalBatch(step), rank * per, (rank + 1) * per);
    const r = await model.trainStep(batch);
    losses.push(r.loss);
    r.dispose();
    for (const t of Object.values(batch)) t.dispose();
  }
  const state = model.stateDict();
  const names = Object.keys(state).sort();
  const parts = [];
  for (const name of names) parts.push(await state[name].toTypedArray());
  const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) flat.set(Float32Array.from(p), (at += p.length) - p.length);
  writeFileSync(`${out}.bin`, flat);
  writeFileSync(`${out}.json`, JSON.stringify({ losses, names }));
  model.dispose();
}

if (process.env.SEQSAM_DIST_STEP_CHILD) {
  const [objective, out] = process.argv.slice(2);
  const group = await distributed.init(distributed.fromEnv(process.env, { timeoutMs: 20000 }));
  await trainRows(objective, group.rank, group.worldSize, `${out}-rank${group.rank}`);
  await distributed.barrier();
  distributed.destroy();
} else {
  // float32 rounding: a gradient element of the decoder's upscaling sums n = B·L² = 4·64² products; summed in
  // another order (per rank, then across ranks) it differs by about √n·u relatively (u = 2⁻²⁴), ≈ 7.6e-6.
  // AdamW's m/√v adds at most half that again (√v), and the steps' errors add (worst case linearly, S
  // steps): 2·S·√n·u ≈ 6.1e-5 on the updates as a whole (relative L2). The losses are sums of the same
  // terms: held to the same bound.
  const u = 2 ** -24;
  const tolerance = 2 * STEPS * Math.sqrt(GLOBAL_BATCH * 64 * 64) * u;

  for (const [objective, reduction] of [['seqsam', 'sum'], ['sam-det', 'mean']]) {
    test(`2 ranks × batch 2 train as 1 rank × batch 4 (${objective}, ${reduction} over the batch)`, { timeout: 180000 }, async (t) => {
      const dir = tempDir(t, 'seqsam-dist-step-');
      await trainRows(objective, 0, 1, join(dir, 'single'));
      const port = await freePort();
      const ranks = await spawnRanks(self, [objective, join(dir, 'group')], { worldSize: 2, port, env: { SEQSAM_DIST_STEP_CHILD: '1' }, timeoutMs: 150000 }).done;
      for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank} failed: ${r.stderr}`);
      const single = JSON.parse(readFileSync(join(dir, 'single.json'), 'utf8'));
      const group = JSON.parse(readFileSync(join(dir, 'group-rank0.json'), 'utf8'));
      const initial = await SeqSam.load({ config: tinyConfig, seed: 0, training: { objective, numMasks: 3 } });
      const start = initial.stateDict();
      const names = Object.keys(start).sort();
      assert.deepEqual(group.names, names);
      const w0 = [];
      for (const n of names) w0.push(...(await start[n].toTypedArray()));
      initial.dispose();
      const w1 = new Float32Array(readFileSync(join(dir, 'single.bin')).buffer.slice(0));
      const wa = new Float32Array(readFileSync(join(dir, 'group-rank0.bin')).buffer.slice(0));
      const wb = new Float32Array(readFileSync(join(dir, 'group-rank1.bin')).buffer.slice(0));
      // Every rank holds the same weights (rank 1 started from other ones: the broadcast replaced them).
      assert.deepEqual(wa, wb);
      let diff = 0, norm = 0, maxDiff = 0;
      for (let i = 0; i < w1.length; i++) {
        const d = wa[i] - w1[i];
        diff += d * d;
        norm += (w1[i] - w0[i]) ** 2;
        maxDiff = Math.max(maxDiff, Math.abs(d));
      }
      const rel = Math.sqrt(diff / norm);
      t.diagnostic(`updates: relative L2 difference ${rel.toExponential(2)} (tolerance ${tolerance.toExponential(2)}), max |Δw| ${maxDiff.toExponential(2)}; losses ${single.losses.map((x) => x.toFixed(5))} vs ${group.losses.map((x) => x.toFixed(5))}`);
      assert.ok(norm > 0, 'the weights moved');
      assert.ok(rel < tolerance, `updates differ by ${rel} (relative L2) > ${tolerance}`);
      for (let s = 0; s < STEPS; s++) {
        assert.ok(Math.abs(group.losses[s] - single.losses[s]) <= tolerance * Math.abs(single.losses[s]), `step ${s}: loss ${group.losses[s]} vs ${single.losses[s]}`);
      }
    });
  }
}
