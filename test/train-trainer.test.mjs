// The training loop on a tiny synthetic run: loss falls, resume is exact, abort saves a resumable
// checkpoint, the log is JSON lines, the encoder runs once per image, evaluation covers the baselines.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { SeqSam, tinyConfig, data } from '../dist/lib/index.js';
import { EmbeddingCache, evaluate, readTrainerState, train } from '../dist/lib/train/index.js';
import { spyEmbed, tempDir } from './helpers.mjs';

const dataset = data.datasets.synthetic({ count: 10, size: 64, seed: 7 });
const split = { train: [0, 1, 2, 3, 4, 5, 6, 7], val: [8, 9] };
const base = { dataset, split, epochs: 2, batchSize: 2, numMasks: 4, seed: 3, schedule: { type: 'linear', lr: 1e-3 } };

const fresh = () => SeqSam.load({ config: tinyConfig, seed: 1 });

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('the loss falls on a tiny synthetic run', async () => {
  const model = await fresh();
  const ds = data.datasets.synthetic({ count: 8, size: 64, seed: 2 });
  const result = await train({
    model,
    dataset: ds,
    split: { train: [0, 1, 2, 3, 4, 5, 6, 7], val: [] },
    epochs: 8,
    batchSize: 2,
    numMasks: 4,
    seed: 0,
    schedule: { type: 'constant', lr: 3e-3 },
  });
  assert.equal(result.steps, 32);
  assert.equal(result.losses.length, 32);
  // Mean loss of the first epoch against the last (about 1.36 → 0.33 on this run).
  const first = mean(result.losses.slice(0, 4));
  const last = mean(result.losses.slice(-4));
  assert.ok(last < 0.6 * first, `loss ${first} → ${last} did not fall`);
  assert.equal(result.evaluations.length, 0);
  model.dispose();
});

test('uninterrupted, aborted and resumed runs take the same steps with the same losses', async (t) => {
  const dir = tempDir(t);
  const cacheDir = join(dir, 'cache');

  // The reference run, logging JSON lines and counting encoder runs.
  const straight = await fresh();
  const calls = spyEmbed(straight);
  const perEpoch = [];
  const logFile = join(dir, 'straight', 'log.jsonl');
  const events = [];
  const reference = await train({
    ...base,
    model: straight,
    logFile,
    checkpointDir: join(dir, 'straight'),
    cache: { dir: cacheDir },
    onProgress: (e) => {
      events.push(e);
      perEpoch[e.epoch] = calls.count;
    },
  });
  straight.dispose();
  assert.equal(reference.steps, 8);
  assert.equal(reference.losses.length, 8);
  // 8 training images in epoch 1 (+2 validation images at its end); epoch 2 never runs the encoder.
  assert.equal(perEpoch[0], 8);
  assert.equal(perEpoch[1], 10);
  assert.equal(calls.count, 10);
  assert.equal(reference.evaluations.length, 2);
  assert.ok(reference.best && reference.best.metric === 'ged');
  assert.ok(reference.lastCheckpoint.endsWith('last.safetensors'));
  assert.ok(reference.bestCheckpoint.endsWith('best.safetensors'));
  assert.deepEqual(events.map((e) => e.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(events.map((e) => e.lr), [0, 1, 2, 3, 4, 5, 6, 7].map((s) => 1e-3 * (1 - s / 8)));
  for (const e of events) {
    assert.equal(e.totalSteps, 8);
    assert.ok(e.imagesPerSecond > 0 && e.etaSeconds >= 0);
  }

  // The log: one JSON object a line, step lines with step, loss and lr.
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const steps = lines.filter((l) => l.type === 'step');
  assert.deepEqual(steps.map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(steps.map((l) => l.loss), reference.losses);
  assert.ok(steps.every((l) => typeof l.lr === 'number' && typeof l.epoch === 'number'));
  assert.equal(lines.filter((l) => l.type === 'eval').length, 2);
  assert.equal(lines[0].type, 'start');
  assert.equal(lines.at(-1).type, 'end');

  // Stopped mid-epoch (before step 4): ERR_ABORTED and a checkpoint at step 3.
  const ckpt = join(dir, 'run');
  const first = await fresh();
  const controller = new AbortController();
  const losses = [];
  await assert.rejects(
    train({
      ...base,
      model: first,
      checkpointDir: ckpt,
      signal: controller.signal,
      onProgress: (e) => {
        losses.push(e.loss);
        if (e.step === 3) controller.abort();
      },
    }),
    (e) => e.code === 'ERR_ABORTED' && /step 3/.test(e.message),
  );
  first.dispose();
  const { state } = await readTrainerState(join(ckpt, 'last.safetensors'));
  assert.deepEqual([state.epoch, state.batchInEpoch, state.step, state.seed, state.evalPending], [0, 3, 3, 3, false]);

  // Resumed into a fresh model (fresh process state: new cache, embeddings recomputed), then stopped
  // again during the evaluation at the end of epoch 1.
  const second = await fresh();
  const controller2 = new AbortController();
  await assert.rejects(
    train({
      ...base,
      model: second,
      checkpointDir: ckpt,
      resume: join(ckpt, 'last.safetensors'),
      signal: controller2.signal,
      onProgress: (e) => {
        losses.push(e.loss);
        if (e.step === 4) controller2.abort();
      },
    }),
    (e) => e.code === 'ERR_ABORTED',
  );
  second.dispose();
  const pending = (await readTrainerState(join(ckpt, 'last.safetensors'))).state;
  assert.deepEqual([pending.epoch, pending.batchInEpoch, pending.step, pending.evalPending], [1, 0, 4, true]);

  // Resumed again: the pending evaluation runs first, then epoch 2.
  const third = await fresh();
  const rest = await train({ ...base, model: third, checkpointDir: ckpt, resume: join(ckpt, 'last.safetensors'), cache: { dir: cacheDir } });
  third.dispose();
  assert.equal(rest.steps, 8);
  losses.push(...rest.losses);
  assert.deepEqual(losses, reference.losses);
  assert.deepEqual(rest.evaluations.map((e) => e.value), reference.evaluations.map((e) => e.value));
  assert.deepEqual(rest.best, reference.best);
});

test('evaluate scores SeqSAM and the baselines from cached embeddings', async () => {
  const cache = new EmbeddingCache();
  for (const [objective, masks] of [['seqsam', 3], ['sam-det', 1], ['sam-mcl', 3]]) {
    const model = await SeqSam.load({ config: tinyConfig, seed: 2, training: { objective } });
    const result = await evaluate(model, dataset, { indices: [0, 1, 2], numMasks: 3, batchSize: 2, cache });
    assert.equal(result.count, 3);
    assert.deepEqual(result.ids, ['synthetic-00000', 'synthetic-00001', 'synthetic-00002']);
    assert.equal(result.perImage.ged.length, 3);
    assert.ok(Number.isFinite(result.loss) && result.loss >= 0, `${objective} loss ${result.loss}`);
    assert.ok(Number.isFinite(result.mean.ged) && Number.isFinite(result.mean.dice));
    assert.equal(result.masks, masks, objective);
    model.dispose();
  }
  await assert.rejects(evaluate(await SeqSam.load({ config: tinyConfig }), dataset, { cache }), (e) => e.code === 'ERR_ARGUMENT');
  cache.dispose();
});

test('bad options are refused before training', async () => {
  const model = await fresh();
  await assert.rejects(train({ ...base, model, epochs: 0 }), (e) => e.code === 'ERR_ARGUMENT');
  await assert.rejects(train({ ...base, model, split: { train: [99] } }), (e) => e.code === 'ERR_ARGUMENT');
  await assert.rejects(train({ ...base, model, bestMetric: 'accuracy' }), (e) => e.code === 'ERR_ARGUMENT');
  const aborted = AbortSignal.abort();
  await assert.rejects(train({ ...base, model, signal: aborted }), (e) => e.code === 'ERR_ABORTED');
  model.dispose();
});
