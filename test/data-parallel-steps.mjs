// Shared by the data-parallel step tests: a seeded synthetic global batch per step, a rank's rows of it, and
// a few SeqSam training steps on those rows whose losses, sync reports and final weights are written out
// for the parent test to compare.
import { readFileSync, writeFileSync } from 'node:fs';

import { SeqSam, Tensor, tinyConfig } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

// Step s's global batch of `size` images: random embeddings, a box per image and two labels of random blobs.
export function globalBatch(step, size) {
  const random = mulberry32(100 + step);
  const [channels, grid, low] = [32, 16, 64];
  const embeddings = Float32Array.from({ length: size * channels * grid * grid }, () => random() - 0.5);
  const boxes = new Float32Array(size * 4);
  const labels = new Float32Array(size * 2 * low * low);
  for (let i = 0; i < size; i++) {
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
export function rows(batch, from, to) {
  const out = {};
  for (const key of ['embeddings', 'boxes', 'labels']) {
    const per = batch.shapes[key].reduce((a, x) => a * x, 1);
    out[key] = Tensor.from(batch[key].slice(from * per, to * per), [to - from, ...batch.shapes[key]]);
  }
  return out;
}

// Trains `steps` steps on this rank's share of each global batch (rank 0's initial weights; the others start
// elsewhere and must be replaced by the broadcast). `adjust(batch, step)` may change a rank's batch. Writes
// `${out}.bin` (the weights, float32 in sorted state-dict order) and `${out}.json` (losses, sync reports, names).
export async function trainRows({ objective, rank, worldSize, out, steps, globalSize, adjust }) {
  const model = await SeqSam.load({ config: tinyConfig, seed: rank === 0 ? 0 : 7 + rank, training: { objective, numMasks: 3, lr: 1e-3, seed: 1 } });
  const per = globalSize / worldSize;
  const losses = [];
  const syncs = [];
  try {
    for (let step = 0; step < steps; step++) {
      const batch = rows(globalBatch(step, globalSize), rank * per, (rank + 1) * per);
      if (adjust) adjust(batch, step);
      try {
        const r = await model.trainStep(batch);
        losses.push(r.loss);
        syncs.push(r.sync ?? null);
        r.dispose();
      } finally {
        for (const t of Object.values(batch)) t?.dispose();
      }
    }
    const state = model.stateDict();
    const names = Object.keys(state).sort();
    const parts = [];
    for (const name of names) parts.push(await state[name].toTypedArray());
    const flat = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) flat.set(Float32Array.from(p), (at += p.length) - p.length);
    writeFileSync(`${out}.bin`, flat);
    writeFileSync(`${out}.json`, JSON.stringify({ losses, syncs, names }));
  } finally {
    model.dispose();
  }
}

export function readRun(out) {
  return { ...JSON.parse(readFileSync(`${out}.json`, 'utf8')), weights: new Float32Array(readFileSync(`${out}.bin`).buffer.slice(0)) };
}

// ‖a − b‖ / ‖b − start‖: how far two trainings' weights differ, relative to how far they moved.
export function relativeUpdateDifference(a, b, start) {
  let diff = 0, norm = 0, maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i] - b[i];
    diff += d * d;
    norm += (b[i] - start[i]) ** 2;
    maxDiff = Math.max(maxDiff, Math.abs(d));
  }
  return { rel: Math.sqrt(diff / norm), norm, maxDiff };
}

// The initial weights of trainRows' rank 0, in the same order.
export async function initialWeights(objective) {
  const initial = await SeqSam.load({ config: tinyConfig, seed: 0, training: { objective, numMasks: 3 } });
  const start = initial.stateDict();
  const names = Object.keys(start).sort();
  const w0 = [];
  for (const n of names) w0.push(...(await start[n].toTypedArray()));
  initial.dispose();
  return { names, weights: w0 };
}
