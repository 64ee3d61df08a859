// The native data-parallel step: N ranks with batch b each train the same model as one rank with batch
// N·b (gradients summed in buckets and weighted by the loss's reduction, per-image draws taken from the
// whole group's draw), checked to float32 tolerance over several steps; joining errors are coded.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

import { distributed } from '../dist/lib/index.js';
import { initialWeights, readRun, relativeUpdateDifference, trainRows } from './data-parallel-steps.mjs';
import { freePort, spawnRanks } from './distributed-helpers.mjs';
import { tempDir } from './helpers.mjs';

const self = fileURLToPath(import.meta.url);
const STEPS = 4;
const GLOBAL_BATCH = 4;

if (process.env.SEQSAM_DIST_STEP_CHILD) {
  const [objective, out] = process.argv.slice(2);
  const group = await distributed.init(distributed.fromEnv(process.env, { timeoutMs: 20000 }));
  await trainRows({ objective, rank: group.rank, worldSize: group.worldSize, out: `${out}-rank${group.rank}`, steps: STEPS, globalSize: GLOBAL_BATCH });
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
      await trainRows({ objective, rank: 0, worldSize: 1, out: join(dir, 'single'), steps: STEPS, globalSize: GLOBAL_BATCH });
      const port = await freePort();
      const ranks = await spawnRanks(self, [objective, join(dir, 'group')], { worldSize: 2, port, env: { SEQSAM_DIST_STEP_CHILD: '1' }, timeoutMs: 150000 }).done;
      for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank} failed: ${r.stderr}`);
      const single = readRun(join(dir, 'single'));
      const group = readRun(join(dir, 'group-rank0'));
      const other = readRun(join(dir, 'group-rank1'));
      const start = await initialWeights(objective);
      assert.deepEqual(group.names, start.names);
      // Every rank holds the same weights (rank 1 started from other ones: the broadcast replaced them).
      assert.deepEqual(group.weights, other.weights);
      const { rel, norm, maxDiff } = relativeUpdateDifference(group.weights, single.weights, start.weights);
      t.diagnostic(`updates: relative L2 difference ${rel.toExponential(2)} (tolerance ${tolerance.toExponential(2)}), max |Δw| ${maxDiff.toExponential(2)}; losses ${single.losses.map((x) => x.toFixed(5))} vs ${group.losses.map((x) => x.toFixed(5))}`);
      assert.ok(norm > 0, 'the weights moved');
      assert.ok(rel < tolerance, `updates differ by ${rel} (relative L2) > ${tolerance}`);
      for (let s = 0; s < STEPS; s++) {
        assert.ok(Math.abs(group.losses[s] - single.losses[s]) <= tolerance * Math.abs(single.losses[s]), `step ${s}: loss ${group.losses[s]} vs ${single.losses[s]}`);
      }
    });
  }
}
