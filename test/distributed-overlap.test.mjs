// The gradient all-reduce overlapped with backward: with buckets small enough to be several, buckets start
// from the gradient hooks while backward still computes, the update equals the one reduced after backward
// (SEQSAM_DDP_OVERLAP=0) and a single rank's on the whole batch; ranks whose gradients cover different
// parameters, or whose batches differ, get a coded error instead of a hang.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

import { SeqSam, Tensor, distributed, tinyConfig } from '../dist/lib/index.js';
import { initialWeights, readRun, relativeUpdateDifference, rows, globalBatch, trainRows } from './data-parallel-steps.mjs';
import { freePort, spawnRanks } from './distributed-helpers.mjs';
import { tempDir } from './helpers.mjs';

const self = fileURLToPath(import.meta.url);
const STEPS = 3;
const GLOBAL_BATCH = 4;
// The tiny model's ~140 trainable tensors (≈ 0.4 MB of float32 gradients) in buckets of 16 KiB: about ten.
const SMALL_BUCKETS = { SEQSAM_DDP_BUCKET_BYTES: String(16 << 10) };

// A rank: joins, trains STEPS steps (rank 1's batch changed as `variant` says), or prints the coded error.
if (process.env.SEQSAM_DIST_OVERLAP_CHILD) {
  const [variant, out] = process.argv.slice(2);
  try {
    const group = await distributed.init(distributed.fromEnv(process.env, { timeoutMs: 20000 }));
    const adjust = (batch) => {
      if (group.rank !== 1) return;
      const b = batch.boxes.shape[0];
      if (variant === 'points') {
        // A point besides the box: the prompt encoder's point embeddings get gradients on this rank alone.
        batch.points = Tensor.from(new Float32Array(b * 2).fill(60), [b, 1, 2]);
        batch.pointLabels = Tensor.from(new Float32Array(b).fill(1), [b, 1]);
      }
    };
    if (variant === 'smaller-batch') {
      // Rank 1 trains on one image where rank 0 trains on two.
      const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { numMasks: 3, seed: 1 } });
      const per = group.rank === 1 ? 1 : 2;
      (await model.trainStep(rows(globalBatch(0, GLOBAL_BATCH), 0, per))).dispose();
    } else {
      await trainRows({ objective: 'seqsam', rank: group.rank, worldSize: group.worldSize, out: `${out}-rank${group.rank}`, steps: STEPS, globalSize: GLOBAL_BATCH, adjust });
    }
    await distributed.barrier();
    distributed.destroy();
  } catch (error) {
    process.stdout.write(`${error.code}: ${error.message}\n`);
    process.exit(3);
  }
} else {
  const runRanks = async (variant, out, env) => {
    const port = await freePort();
    return spawnRanks(self, [variant, out], { worldSize: 2, port, env: { SEQSAM_DIST_OVERLAP_CHILD: '1', ...env }, timeoutMs: 120000 }).done;
  };

  // As in distributed-step.test.mjs: a gradient element sums up to n = B·L² = 4·64² products, whose order
  // changes between one rank and two by about √n·u relatively (u = 2⁻²⁴); AdamW adds at most half that, and
  // S steps add up: 2·S·√n·u on the updates (relative L2). Overlapped or not, the buckets hold the same
  // gradients and are summed by the same all-reduce, so those two agree at least as closely.
  const u = 2 ** -24;
  const tolerance = 2 * STEPS * Math.sqrt(GLOBAL_BATCH * 64 * 64) * u;

  test('overlapped buckets start during backward and give the update of the reduction after backward', { timeout: 240000 }, async (t) => {
    const dir = tempDir(t, 'seqsam-dist-overlap-');
    for (const [name, overlap] of [['on', '1'], ['off', '0']]) {
      const ranks = await runRanks('same', join(dir, name), { ...SMALL_BUCKETS, SEQSAM_DDP_OVERLAP: overlap });
      for (const r of ranks) assert.equal(r.code, 0, `overlap ${name}, rank ${r.rank}: ${r.stdout}${r.stderr}`);
    }
    await trainRows({ objective: 'seqsam', rank: 0, worldSize: 1, out: join(dir, 'single'), steps: STEPS, globalSize: GLOBAL_BATCH });
    const on = [readRun(join(dir, 'on-rank0')), readRun(join(dir, 'on-rank1'))];
    const off = [readRun(join(dir, 'off-rank0')), readRun(join(dir, 'off-rank1'))];
    const single = readRun(join(dir, 'single'));

    for (const [rank, run] of on.entries()) {
      for (const [step, sync] of run.syncs.entries()) {
        t.diagnostic(`overlap on, rank ${rank}, step ${step}: ${JSON.stringify(sync)}`);
        assert.equal(sync.overlap, true);
        assert.ok(sync.buckets >= 2, `step ${step}: ${sync.buckets} bucket(s)`);
        // The first buckets hold the last layers' gradients, ready long before the first layers' are.
        assert.ok(sync.launchedDuringBackward >= 1, `rank ${rank}, step ${step}: no bucket started while backward still ran`);
        assert.ok(sync.launchedDuringBackward < sync.buckets);
      }
    }
    for (const run of off) {
      for (const [step, sync] of run.syncs.entries()) {
        assert.equal(sync.overlap, false);
        assert.equal(sync.launchedDuringBackward, 0);
        assert.equal(sync.buckets, on[0].syncs[step].buckets, 'the same buckets either way');
      }
    }

    assert.deepEqual(on[0].weights, on[1].weights);
    assert.deepEqual(off[0].weights, off[1].weights);
    const start = await initialWeights('seqsam');
    const onOff = relativeUpdateDifference(on[0].weights, off[0].weights, start.weights);
    const onSingle = relativeUpdateDifference(on[0].weights, single.weights, start.weights);
    t.diagnostic(`updates, overlap on vs off: relative L2 ${onOff.rel.toExponential(2)}; on vs 1 rank × batch 4: ${onSingle.rel.toExponential(2)} (tolerance ${tolerance.toExponential(2)})`);
    assert.ok(onSingle.norm > 0, 'the weights moved');
    assert.ok(onOff.rel <= tolerance, `overlap on and off differ by ${onOff.rel} (relative L2) > ${tolerance}`);
    assert.ok(onSingle.rel < tolerance, `2 ranks (overlapped) and 1 rank differ by ${onSingle.rel} (relative L2) > ${tolerance}`);
    for (let s = 0; s < STEPS; s++) {
      for (const run of [off[0], single]) assert.ok(Math.abs(on[0].losses[s] - run.losses[s]) <= tolerance * Math.abs(run.losses[s]), `step ${s}: loss ${on[0].losses[s]} vs ${run.losses[s]}`);
    }
  });

  for (const [name, env] of [['overlapped', { ...SMALL_BUCKETS }], ['after backward', { ...SMALL_BUCKETS, SEQSAM_DDP_OVERLAP: '0' }], ['one bucket', {}]]) {
    test(`ranks whose gradients cover different parameters are refused with a coded error (${name})`, { timeout: 120000 }, async (t) => {
      const dir = tempDir(t, 'seqsam-dist-overlap-');
      const ranks = await runRanks('points', join(dir, 'points'), env);
      for (const r of ranks) {
        assert.equal(r.code, 3, `rank ${r.rank}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, new RegExp(`ERR_DISTRIBUTED: rank ${r.rank}: the ranks' gradients cover different parameters in this step \\(bucket \\d+ of \\d+`));
      }
      // With small buckets the bucket that differs holds little more than the prompt encoder: rank 0, the one
      // without the points, names the parameters it has no gradient for.
      if (env.SEQSAM_DDP_BUCKET_BYTES) assert.match(ranks[0].stdout, /prompt_encoder\.point_embeddings/);
    });
  }

  test('ranks with different batch sizes (2 and 1) are refused with a coded error during backward', { timeout: 120000 }, async (t) => {
    const dir = tempDir(t, 'seqsam-dist-overlap-');
    const ranks = await runRanks('smaller-batch', join(dir, 'batch'), SMALL_BUCKETS);
    for (const r of ranks) {
      assert.equal(r.code, 3, `rank ${r.rank}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`ERR_DISTRIBUTED: rank ${r.rank}: the ranks' batch size differ in this step \\(this rank ${r.rank === 0 ? 2 : 1}, mean over ranks 1.5\\)`));
    }
  });

  test('SEQSAM_DDP_OVERLAP and SEQSAM_DDP_BUCKET_BYTES are read with coded errors', { timeout: 60000 }, async (t) => {
    const group = await distributed.init({ rank: 0, worldSize: 1, masterPort: await freePort(), timeoutMs: 5000 });
    const model = await SeqSam.load({ config: tinyConfig, seed: 0, training: { numMasks: 3, seed: 1 } });
    const saved = { overlap: process.env.SEQSAM_DDP_OVERLAP, bytes: process.env.SEQSAM_DDP_BUCKET_BYTES };
    const batch = rows(globalBatch(0, 2), 0, 2);
    try {
      process.env.SEQSAM_DDP_OVERLAP = 'maybe';
      await assert.rejects(model.trainStep(batch), { code: 'ERR_ARGUMENT', message: /SEQSAM_DDP_OVERLAP must be 0 .* or 1/ });
      process.env.SEQSAM_DDP_OVERLAP = '0';
      process.env.SEQSAM_DDP_BUCKET_BYTES = '-3';
      await assert.rejects(model.trainStep(batch), { code: 'ERR_ARGUMENT', message: /SEQSAM_DDP_BUCKET_BYTES must be a positive integer/ });
      process.env.SEQSAM_DDP_BUCKET_BYTES = String(16 << 10);
      const r = await model.trainStep(batch);
      assert.equal(r.sync.overlap, false);
      assert.ok(r.sync.buckets >= 2);
      assert.equal(r.sync.launchedDuringBackward, 0);
      r.dispose();
    } finally {
      for (const [key, value] of [['SEQSAM_DDP_OVERLAP', saved.overlap], ['SEQSAM_DDP_BUCKET_BYTES', saved.bytes]]) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      for (const tensor of Object.values(batch)) tensor.dispose();
      model.dispose();
      distributed.destroy();
      assert.equal(group.worldSize, 1);
    }
  });
}
