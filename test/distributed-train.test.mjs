// train.train({ distributed }) across real ranks (child processes on 127.0.0.1): 2 ranks × batch 2 train
// as 1 rank × batch 4 (losses, weights, evaluation), only rank 0 writes, ranks that disagree are refused,
// a rank killed with SIGKILL stops the other with a coded error naming it, and the job resumes from the
// last checkpoint.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

import { SeqSam, data, distributed, tinyConfig } from '../dist/lib/index.js';
import { train } from '../dist/lib/train/index.js';
import { freePort, spawnRanks } from './distributed-helpers.mjs';
import { tempDir } from './helpers.mjs';

const self = fileURLToPath(import.meta.url);
const dataset = data.datasets.synthetic({ count: 10, size: 64, seed: 7 });
const split = { train: [0, 1, 2, 3, 4, 5, 6, 7], val: [8, 9] };
const base = { dataset, split, numMasks: 3, seed: 3, schedule: { type: 'linear', lr: 1e-3 } };

async function weights(path) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  if (path) await model.restore(path, { strict: false });
  const state = model.stateDict();
  const out = [];
  for (const name of Object.keys(state).sort()) out.push(...(await state[name].toTypedArray()));
  model.dispose();
  return Float64Array.from(out);
}

if (process.env.SEQSAM_DIST_TRAIN_CHILD) {
  const job = JSON.parse(process.env.SEQSAM_DIST_TRAIN_CHILD);
  try {
    const group = await distributed.init(distributed.fromEnv(process.env, { timeoutMs: 15000 }));
    const own = job.ranks?.[group.rank] ?? {};
    // Rank 1 starts from other weights: the broadcast from rank 0 must replace them.
    const model = await SeqSam.load({ config: tinyConfig, seed: group.rank === 0 ? 1 : 99 });
    const result = await train({
      ...base,
      model,
      epochs: job.epochs,
      batchSize: 2,
      saveEvery: job.saveEvery,
      checkpointDir: job.dir,
      logFile: join(job.dir, 'log.jsonl'),
      cache: { dir: join(job.dir, 'cache') },
      resume: job.resume,
      distributed: group,
      onProgress: (e) => process.stdout.write(`step ${e.step}\n`),
      ...own,
    });
    process.stdout.write(`result ${JSON.stringify({ losses: result.losses, evaluations: result.evaluations.map((e) => ({ loss: e.loss, ged: e.mean.ged, dice: e.mean.dice })), steps: result.steps })}\n`);
    await distributed.barrier();
    distributed.destroy();
  } catch (error) {
    process.stderr.write(`${error.code}: ${error.message}\n`);
    process.exit(3);
  }
} else {
  const runRanks = async (job, options = {}) => {
    const port = await freePort();
    return spawnRanks(self, [], { worldSize: 2, port, env: { SEQSAM_DIST_TRAIN_CHILD: JSON.stringify(job) }, timeoutMs: 120000, ...options });
  };
  const resultOf = (r) => JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('result ')).slice('result '.length));

  test('2 ranks × batch 2 train as 1 rank × batch 4; only rank 0 writes', { timeout: 240000 }, async (t) => {
    const dir = tempDir(t, 'seqsam-dist-train-');
    const single = await SeqSam.load({ config: tinyConfig, seed: 1 });
    const reference = await train({ ...base, model: single, epochs: 2, batchSize: 4, checkpointDir: join(dir, 'single'), cache: { dir: join(dir, 'single-cache') } });
    single.dispose();

    const ranks = await (await runRanks({ dir: join(dir, 'group'), epochs: 2 })).done;
    for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    const [r0, r1] = ranks.map(resultOf);
    assert.equal(r0.steps, reference.steps);
    assert.deepEqual(r0.losses, r1.losses, 'every rank reports the group loss');
    // Tolerance as in distributed-step.test.mjs: 2·S·√n·u for S steps, n = B·64² summands per gradient element.
    const tolerance = 2 * reference.steps * Math.sqrt(4 * 64 * 64) * 2 ** -24;
    reference.losses.forEach((loss, i) => assert.ok(Math.abs(r0.losses[i] - loss) <= tolerance * Math.abs(loss), `step ${i + 1}: ${r0.losses[i]} vs ${loss}`));
    assert.equal(r0.evaluations.length, reference.evaluations.length);
    reference.evaluations.forEach((e, i) => {
      for (const key of ['loss', 'ged', 'dice']) assert.ok(Math.abs(r0.evaluations[i][key] - (key === 'loss' ? e.loss : e.mean[key])) <= 1e-4, `evaluation ${i} ${key}`);
    });
    const w0 = await weights();
    const w1 = await weights(join(dir, 'single', 'last.safetensors'));
    const wg = await weights(join(dir, 'group', 'last.safetensors'));
    let diff = 0, norm = 0;
    for (let i = 0; i < w1.length; i++) {
      diff += (wg[i] - w1[i]) ** 2;
      norm += (w1[i] - w0[i]) ** 2;
    }
    t.diagnostic(`weights after ${reference.steps} steps: relative L2 difference of the updates ${Math.sqrt(diff / norm).toExponential(2)} (tolerance ${tolerance.toExponential(2)})`);
    assert.ok(Math.sqrt(diff / norm) < tolerance);
    // One writer: one 'step' record per step in the shared log.
    const records = readFileSync(join(dir, 'group', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(records.filter((r) => r.type === 'step').length, reference.steps);
    assert.equal(ranks[1].stdout.includes('step '), false, 'rank 1 reports no progress');
  });

  test('ranks started with different options or data are refused at start, naming the rank', { timeout: 120000 }, async (t) => {
    const dir = tempDir(t, 'seqsam-dist-refuse-');
    for (const [own, part] of [[{ seed: 4 }, 'training options'], [{ split: { train: [0, 1, 2, 3, 4, 5, 6, 9], val: [8] } }, 'data']]) {
      const ranks = await (await runRanks({ dir, epochs: 1, ranks: { 1: own } })).done;
      for (const r of ranks) {
        assert.equal(r.code, 3, `rank ${r.rank} should fail: ${r.stdout} ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`ERR_DISTRIBUTED: rank ${r.rank}: rank 1 started with a different ${part} than rank 0`));
      }
    }
    assert.equal(existsSync(join(dir, 'last.safetensors')), false);
  });

  test('a rank killed with SIGKILL stops the other with ERR_DISTRIBUTED naming it; the job resumes from the last checkpoint', { timeout: 240000 }, async (t) => {
    const dir = tempDir(t, 'seqsam-dist-kill-');
    const job = { dir: join(dir, 'run'), epochs: 3, saveEvery: 1 };
    let killedAt = 0;
    const run = await runRanks(job, {
      onLine: (rank, line) => {
        if (rank === 0 && line === 'step 3' && !killedAt) {
          killedAt = Date.now();
          run.kill(1);
        }
      },
    });
    const [r0, r1] = await run.done;
    assert.ok(killedAt, `rank 0 never reached step 3: ${r0.stderr}`);
    assert.equal(r1.signal, 'SIGKILL');
    assert.equal(r0.code, 3);
    assert.match(r0.stderr, /ERR_DISTRIBUTED: rank 0: .*rank 1 stopped/);
    // Bounded: the lost connection fails the collective at once, then ~3 heartbeats tell which rank went.
    const stoppedWithin = Date.now() - killedAt;
    t.diagnostic(`rank 0 stopped within ${stoppedWithin / 1000} s of the kill: ${r0.stderr.trim()}`);
    assert.ok(stoppedWithin < 15000, `rank 0 took ${stoppedWithin} ms to stop`);

    // The whole job again, from the last checkpoint: it finishes the run.
    const resumed = await (await runRanks({ ...job, resume: join(job.dir, 'last.safetensors') })).done;
    for (const r of resumed) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    const result = resultOf(resumed[0]);
    assert.equal(result.steps, 6);
    assert.ok(result.losses.length >= 3 && result.losses.length <= 4, `resumed steps: ${result.losses.length}`);

    // An uninterrupted run of the same job ends with the same weights.
    const straight = await (await runRanks({ ...job, dir: join(dir, 'straight') })).done;
    for (const r of straight) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    assert.deepEqual(await weights(join(job.dir, 'last.safetensors')), await weights(join(dir, 'straight', 'last.safetensors')));
  });
}
