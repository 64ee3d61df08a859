// CUDA graphs (native/cuda/cuda_graph.h): the training step and SeqSAM's rollout replayed from a recorded
// graph give what the eager code gives, follow the inputs written before each replay, and record anew for a
// new layout. On a GPU the graphs are real; on a CPU the same staging runs against the test stand-in
// (SEQSAM_CUDA_GRAPHS_EMULATE=1: no recording, the body runs again at each replay), which checks that each
// call's inputs reach the replay and its outputs come back, not the recording itself.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';

import { ImageEmbedding, SeqSam, Tensor, info, tinyConfig } from '../dist/lib/index.js';
import { mulberry32, relativeL2, tempDir } from './helpers.mjs';

const runtime = info();
const skipGpu = !runtime.cuda || !runtime.builtWithCuda ? 'needs a CUDA build and a GPU' : !runtime.cudaGraphs ? 'this CUDA build has no CUDA graphs (-DSEQSAM_CUDA_GRAPHS=OFF)' : false;
const skipEmulated = runtime.cudaGraphs ? 'this build records real CUDA graphs (the GPU tests cover it)' : false;

const [C, GRID, LOW] = [tinyConfig.prompt_embed_dim, 16, 64];

function randomTensor(shape, seed, device, map = (x) => x - 0.5) {
  const random = mulberry32(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, () => map(random())), shape, { device });
}

function makeBatch(b, k, seed, device) {
  const boxes = new Float32Array(b * 4);
  for (let i = 0; i < b; i++) boxes.set([20 + 7 * i + (seed % 7), 30, 150 + 9 * i, 200 - (seed % 5)], i * 4);
  return {
    embeddings: randomTensor([b, C, GRID, GRID], seed, device),
    boxes: Tensor.from(boxes, [b, 4], { device }),
    labels: randomTensor([b, k, LOW, LOW], seed + 1, device, (x) => (x < 0.3 ? 1 : 0)),
  };
}

function withNaN(batch, device) {
  const [b, c, h, w] = batch.embeddings.shape;
  return { ...batch, embeddings: Tensor.from(new Float32Array(b * c * h * w).fill(Number.NaN), [b, c, h, w], { device }) };
}

function disposeBatch(batch) {
  for (const t of Object.values(batch)) t.dispose();
}

async function weights(model) {
  const out = {};
  for (const [name, t] of Object.entries(model.stateDict('all'))) {
    out[name] = await t.toTypedArray();
    t.dispose();
  }
  return out;
}

// Eager and graphed runs of the same step differ at most by the rounding of AdamW's scalars (the rate in
// float32 on the device in the capturable mode a graph needs, float64 on the host in the eager one: 2⁻²⁴ of
// an update) and by kernels that sum in another order (a relative few 1e-7 of the loss and the gradients).
// Adam divides by √v + ε: with ε = 1e-3 (trainingOn below) and every gradient within [-1, 1] (gradClip 1),
// a gradient difference Δg moves an update by at most lr·|Δg|/ε ≤ lr·1e-7/1e-3 = lr·1e-4 (a tiny ε would
// instead blow rounding noise in gradients that are zero in exact arithmetic, e.g. the attention keys'
// bias, up to a full ±lr). So a weight differs by at most Σ lr·δ with δ = 1e-4 over the steps, and a loss by
// δ relative (what those weight differences move it is orders smaller at these rates).
const DELTA = 1e-4;
// In bf16 a kernel that sums in another order (cuBLAS may pick another split on the capture's stream) can move
// an output by one bf16 step, 2⁻⁸ relative, which Adam's ratio can turn into a whole update: there the
// losses are compared (to 2⁻⁸ relative, each a mean of Dice terms that such steps would all have to move
// the same way to exceed it) and the weights left to the fp32 run. A graph replaying stale casts of the
// weights would fall behind the eager losses by far more, step after step.
const BF16_LOSS = 2 ** -8;

function assertLossesClose(actual, expected, what, delta = DELTA) {
  assert.equal(actual.length, expected.length, `${what}: step count`);
  for (let i = 0; i < expected.length; i++) {
    if (typeof expected[i] === 'string') {
      assert.equal(actual[i], expected[i], `${what}: step ${i}`);
      continue;
    }
    assert.ok(Math.abs(actual[i] - expected[i]) <= delta * Math.max(1, Math.abs(expected[i])), `${what}: step ${i} loss ${actual[i]} vs ${expected[i]}`);
  }
}

function assertWeightsClose(actual, expected, lrSum, what) {
  const bound = lrSum * DELTA;
  for (const [name, want] of Object.entries(expected)) {
    const got = actual[name];
    assert.ok(got, `${what}: ${name} missing`);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) - 1e-7 * Math.abs(want[i]));
    assert.ok(worst <= bound, `${what}: ${name} differs by ${worst} (bound Σ lr·δ = ${bound})`);
  }
}

// The schedule: 10 steps, a rate change at step 4 (kept from then on), a non-finite step at step 6.
const schedule = Array.from({ length: 10 }, (_, i) => ({ lr: i === 4 ? 3e-3 : undefined, bad: i === 6 }));
const baseLr = 1e-3;

async function runSchedule(model, batch, bad, steps = schedule) {
  const losses = [];
  for (const { lr, bad: isBad } of steps) {
    try {
      const r = await model.trainStep(isBad ? bad : batch, lr === undefined ? {} : { lr });
      losses.push(r.loss);
      r.dispose();
    } catch (error) {
      assert.equal(error.code, 'ERR_NUMERIC', `a non-finite step throws ERR_NUMERIC (got ${error.code}: ${error.message})`);
      losses.push('ERR_NUMERIC');
    }
  }
  return losses;
}

function lrSum(steps) {
  let lr = baseLr;
  let sum = 0;
  for (const s of steps) {
    if (s.lr !== undefined) lr = s.lr;
    if (!s.bad) sum += lr;
  }
  return sum;
}

// On a CPU the Hungarian solver refuses the NaN step's costs (ERR_ARGUMENT) before the step can; fixed
// matching leaves the refusal to the step's finiteness check there, as the GPU's solver does.
const trainingOn = (device) => ({ numMasks: 4, seed: 3, lr: baseLr, gradClip: 1, eps: 1e-3, ...(device === 'cpu' ? { matching: 'fixed' } : {}) });

async function trainingMatchesEager(device, precision) {
  const batch = makeBatch(4, 3, 11, device);
  const bad = withNaN(batch, device);
  const eager = await SeqSam.load({ config: tinyConfig, seed: 0, device, precision, cudaGraphs: false, training: trainingOn(device) });
  const graphed = await SeqSam.load({ config: tinyConfig, seed: 0, device, precision, cudaGraphs: true, training: trainingOn(device) });
  try {
    const expected = await runSchedule(eager, batch, bad);
    const actual = await runSchedule(graphed, batch, bad);
    const stats = graphed.cudaGraphStats().training;
    assert.equal(eager.cudaGraphStats().training.replays, 0, 'cudaGraphs: false never replays');
    if (precision === 'bf16') {
      assertLossesClose(actual, expected, 'bf16 losses', BF16_LOSS);
    } else {
      assertLossesClose(actual, expected, `${precision} losses`);
      assertWeightsClose(await weights(graphed), await weights(eager), lrSum(schedule), `${precision} weights`);
    }
    return stats;
  } finally {
    eager.dispose();
    graphed.dispose();
    disposeBatch(batch);
    bad.embeddings.dispose();
  }
}

async function resumeMatchesUninterrupted(t, device) {
  const dir = tempDir(t);
  const batch = makeBatch(4, 3, 21, device);
  const bad = withNaN(batch, device);
  const first = schedule.slice(0, 5);
  const rest = schedule.slice(5);
  const uninterrupted = await SeqSam.load({ config: tinyConfig, seed: 0, device, cudaGraphs: true, training: trainingOn(device) });
  let resumed;
  try {
    await runSchedule(uninterrupted, batch, bad, first);
    const path = join(dir, 'after-graphed-steps.safetensors');
    await uninterrupted.save(path);
    const expected = await runSchedule(uninterrupted, batch, bad, rest);
    // The checkpoint's training setup (and optimizer state) come back with it; the rate set at step 4 is
    // not part of it, so the resumed run is given the rate in force.
    resumed = await SeqSam.load({ config: tinyConfig, device, checkpoint: path, cudaGraphs: true });
    const restWithRate = rest.map((s, i) => (i === 0 && s.lr === undefined ? { ...s, lr: 3e-3 } : s));
    const actual = await runSchedule(resumed, batch, bad, restWithRate);
    assertLossesClose(actual, expected, 'resumed losses');
    assertWeightsClose(await weights(resumed), await weights(uninterrupted), lrSum(rest), 'resumed weights');
    return resumed.cudaGraphStats().training;
  } finally {
    uninterrupted.dispose();
    resumed?.dispose();
    disposeBatch(batch);
    bad.embeddings.dispose();
  }
}

async function inferenceMatchesEager(device, precision) {
  const embedding = new ImageEmbedding(randomTensor([1, C, GRID, GRID], 31, device), [256, 256], [256, 256]);
  const eager = await SeqSam.load({ config: tinyConfig, seed: 0, device, precision, cudaGraphs: false });
  const graphed = await SeqSam.load({ config: tinyConfig, seed: 0, device, precision, cudaGraphs: true });
  try {
    // Two prompts of one layout (the second replays with the first's graph), then a layout of two boxes.
    const prompts = [
      { box: [20, 30, 150, 200], numMasks: 5 },
      { box: [60, 40, 220, 180], numMasks: 5 },
      { boxes: [[20, 30, 150, 200], [60, 40, 220, 180]], numMasks: 5 },
      { box: [10, 10, 100, 120], numMasks: 5 },
    ];
    for (const [i, prompt] of prompts.entries()) {
      const want = await eager.predict(embedding, prompt);
      const got = await graphed.predict(embedding, prompt);
      for (const key of ['lowResLogits', 'iou', 'masks']) {
        const a = await got[key].toTypedArray();
        const b = await want[key].toTypedArray();
        assert.deepEqual(got[key].shape, want[key].shape, `${precision} prompt ${i}: ${key} shape`);
        // The same kernels on the same inputs: equal up to kernels that sum in another order, a few float32
        // roundings (1e-5 relative L2 leaves room for M = 5 recurrent steps compounding them) or one bf16
        // step (2⁻⁸). Another prompt's or a stale input's masks would differ entirely.
        const bound = precision === 'bf16' ? 2 ** -8 : 1e-5;
        const error = relativeL2(a, b);
        assert.ok(error <= bound, `${precision} prompt ${i}: ${key} differs by ${error} relative L2 (bound ${bound})`);
      }
      want.dispose();
      got.dispose();
    }
    const stats = graphed.cudaGraphStats().inference;
    assert.equal(eager.cudaGraphStats().inference.replays, 0, 'cudaGraphs: false never replays');
    return stats;
  } finally {
    eager.dispose();
    graphed.dispose();
    embedding.tensor.dispose();
  }
}

async function trainingRecordsPerLayout(device) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, device, cudaGraphs: true, training: trainingOn(device) });
  const eager = await SeqSam.load({ config: tinyConfig, seed: 0, device, cudaGraphs: false, training: trainingOn(device) });
  // Four batches of new data each (labels, boxes and embeddings), in two layouts: each replay must see its own.
  const batches = [4, 2, 4, 2].map((b, i) => makeBatch(b, 3, 41 + 2 * i, device));
  try {
    const losses = [];
    const expected = [];
    for (const batch of batches) {
      const r = await model.trainStep(batch);
      const e = await eager.trainStep(batch);
      losses.push(r.loss);
      expected.push(e.loss);
      r.dispose();
      e.dispose();
    }
    assertLossesClose(losses, expected, 'alternating batch sizes');
    return model.cudaGraphStats().training;
  } finally {
    model.dispose();
    eager.dispose();
    for (const batch of batches) disposeBatch(batch);
  }
}

// ---- On a GPU: real graphs -------------------------------------------------------------------------------

test('GPU: 10 graphed training steps equal 10 eager ones (rate change, non-finite step), fp32 and bf16', { skip: skipGpu }, async () => {
  for (const precision of ['fp32', 'bf16']) {
    const stats = await trainingMatchesEager('cuda', precision);
    assert.equal(stats.failures, 0, `${precision}: recording failed: ${stats.lastFailure}`);
    assert.equal(stats.captures, 1, `${precision}: one layout, one graph`);
    assert.equal(stats.replays, schedule.length, `${precision}: every step replayed (the non-finite one too)`);
  }
});

test('GPU: a run resumed from a checkpoint taken after graphed steps continues as the uninterrupted run', { skip: skipGpu }, async (t) => {
  const stats = await resumeMatchesUninterrupted(t, 'cuda');
  assert.equal(stats.failures, 0, stats.lastFailure);
  assert.ok(stats.replays > 0, 'the resumed steps were replayed');
});

test('GPU: the graphed rollout in predict equals the eager one, for each prompt and layout', { skip: skipGpu }, async () => {
  for (const precision of ['fp32', 'bf16']) {
    const stats = await inferenceMatchesEager('cuda', precision);
    assert.equal(stats.failures, 0, `${precision}: recording failed: ${stats.lastFailure}`);
    assert.equal(stats.captures, 2, `${precision}: one graph per layout (1 box, 2 boxes)`);
    assert.equal(stats.replays, 4, `${precision}: every prediction replayed`);
  }
});

test('GPU: a new batch size records a new training graph; a known one replays its own', { skip: skipGpu }, async () => {
  const stats = await trainingRecordsPerLayout('cuda');
  assert.equal(stats.failures, 0, stats.lastFailure);
  assert.equal(stats.captures, 2);
  assert.equal(stats.replays, 4);
});

test('GPU: SEQSAM_CUDA_GRAPHS=0 turns the graphs off', { skip: skipGpu }, async () => {
  process.env.SEQSAM_CUDA_GRAPHS = '0';
  try {
    const stats = await inferenceMatchesEager('cuda', 'fp32');
    assert.equal(stats.captures + stats.replays, 0);
  } finally {
    delete process.env.SEQSAM_CUDA_GRAPHS;
  }
});

// ---- On a CPU: the staging, against the test stand-in ----------------------------------------------------

async function emulated(fn) {
  process.env.SEQSAM_CUDA_GRAPHS_EMULATE = '1';
  try {
    return await fn();
  } finally {
    delete process.env.SEQSAM_CUDA_GRAPHS_EMULATE;
  }
}

test('stand-in: each prediction reaches its replay, per layout, and equals the eager one', { skip: skipEmulated }, async () => {
  const stats = await emulated(() => inferenceMatchesEager('cpu', 'fp32'));
  assert.equal(stats.failures, 0, stats.lastFailure);
  assert.equal(stats.captures, 2, 'one entry per layout (1 box, 2 boxes)');
  assert.equal(stats.replays, 4);
});

test('stand-in: graphed training steps equal eager ones (rate change, non-finite step, batch sizes, resume)', { skip: skipEmulated }, async (t) => {
  await emulated(async () => {
    const stats = await trainingMatchesEager('cpu', 'fp32');
    if (stats.replays === 0) {
      t.skip('this build\'s optimizer has no capturable mode yet: training steps are not graphed');
      return;
    }
    assert.equal(stats.failures, 0, stats.lastFailure);
    assert.equal(stats.replays, schedule.length);
    const layouts = await trainingRecordsPerLayout('cpu');
    assert.equal(layouts.captures, 2);
    assert.equal(layouts.replays, 4);
    const resumed = await resumeMatchesUninterrupted(t, 'cpu');
    assert.ok(resumed.replays > 0);
  });
});

test('info() says whether this build has CUDA graphs; without CUDA it has none', () => {
  assert.equal(typeof runtime.cudaGraphs, 'boolean');
  if (!runtime.builtWithCuda) assert.equal(runtime.cudaGraphs, false);
});
