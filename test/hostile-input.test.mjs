// Inputs a hostile (or careless) caller gives: non-finite rates, non-binary labels, wrong types, absurd
// sizes. Each is a coded error naming the field; none corrupts the weights, hangs or exhausts memory.
// Cases that used to hang or run out of memory run in a child process under a kill timeout.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { SeqSam, SeqsamError, Tensor, info, metrics, setThreads, tensorStats, tinyConfig } from '../dist/lib/index.js';
import { synthetic } from '../dist/lib/data/index.js';
import { EmbeddingCache, train } from '../dist/lib/train/index.js';
import { readSafetensors, writeSafetensors } from '../dist/lib/checkpoint/safetensors.js';
import { rejectsCoded, tempDir } from './helpers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'scripts/seqsam.mjs');

// Runs `script` (an ES module body that may import '#seqsam') in a fresh node, killed after `timeoutMs`.
function child(script, timeoutMs = 30_000, args = []) {
  const code = script.replaceAll("'#seqsam'", JSON.stringify(join(root, 'dist/lib/index.js')));
  return new Promise((resolve) => {
    execFile(process.execPath, ['--max-old-space-size=512', '--input-type=module', '-e', code, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', cwd: root }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? null) : 0, killed: Boolean(error?.killed), signal: error?.signal ?? null, stdout, stderr });
    });
  });
}

// Runs the CLI; resolves { code, stdout, stderr }, killed after `timeoutMs`.
function seqsam(args, timeoutMs = 60_000) {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, SEQSAM_NO_SETUP: '1' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? null) : 0, killed: Boolean(error?.killed), stdout, stderr });
    });
  });
}

const coded = (code, ...fragments) => (e) => {
  assert.ok(e instanceof SeqsamError, `expected a SeqsamError, got ${e?.stack ?? e}`);
  assert.equal(e.code, code, e.message);
  for (const f of fragments) assert.ok(e.message.includes(f), `'${f}' missing from: ${e.message}`);
  return true;
};

let model;
let embedding;
before(async () => {
  model = await SeqSam.load({ config: tinyConfig, seed: 1, training: { numMasks: 4, lr: 1e-3 } });
  embedding = await model.embed({ data: new Uint8Array(64 * 48 * 3).fill(50), width: 64, height: 48, channels: 3 });
});
after(() => {
  embedding?.dispose();
  model?.dispose();
});

const B = 2;
const K = 3;
const tensors = [];
const t = (data, shape) => {
  const out = Tensor.from(data, shape);
  tensors.push(out);
  return out;
};
after(() => {
  for (const x of tensors) x.dispose();
});
const embeddings = (fill = 0.1) => t(new Float32Array(B * 32 * 16 * 16).fill(fill), [B, 32, 16, 16]);
const boxes = () => t(Float32Array.from([0, 0, 100, 100, 10, 10, 200, 200]), [B, 4]);
const labels = (fill = 1, Type = Float32Array) => t(new Type(B * K * 64 * 64).fill(fill), [B, K, 64, 64]);
const batch = (extra = {}) => ({ embeddings: embeddings(), boxes: boxes(), labels: labels(), ...extra });

// The decoder and cell weights, as plain arrays, to prove a refused step wrote nothing.
async function snapshot(m) {
  const out = {};
  const weights = m.stateDict('all');
  for (const [name, x] of Object.entries(weights)) if (/^(cell|mask_decoder)\./.test(name)) out[name] = Array.from(await x.toTypedArray());
  for (const x of Object.values(weights)) x.dispose();
  return out;
}

// The optimizer state a checkpoint records, as plain arrays.
async function optimizerState(m, path) {
  await m.save(path);
  const { tensors: saved } = await readSafetensors(path);
  const out = {};
  for (const [name, x] of Object.entries(saved)) {
    if (name.startsWith('optimizer.')) out[name] = Array.from(await x.toTypedArray(), Number);
    x.dispose();
  }
  return out;
}

async function assertUnchanged(m, before, what) {
  const after = await snapshot(m);
  for (const [name, values] of Object.entries(before)) assert.deepEqual(after[name], values, `${what}: ${name} changed`);
}

// ---- Item 3: learning rates and non-finite steps ----

test('trainStep refuses a NaN, infinite or negative lr and writes nothing', async () => {
  const before = await snapshot(model);
  for (const lr of [NaN, Infinity, -Infinity, -1e3, 1e308]) {
    await assert.rejects(model.trainStep(batch(), { lr }), coded('ERR_ARGUMENT', 'lr', String(lr)));
  }
  await assertUnchanged(model, before, 'refused lr');
});

test('a finite lr whose largest possible update leaves float32 is ERR_NUMERIC before any weight changes', async () => {
  // Adam's normalised step is bounded (|m|/√v ≤ (1−β1)/√((1−β2)(1−β1²/β2)) ≈ 7.3 for the default betas, times
  // √bias2/bias1 ≈ 0.32 at step 1), so 3e38 can produce infinities and 1e30 cannot.
  const before = await snapshot(model);
  await assert.rejects(model.trainStep(batch(), { lr: 3e38 }), coded('ERR_NUMERIC', 'lr', 'float32'));
  await assertUnchanged(model, before, 'refused huge lr');
});

test("Tensor.from with dtype 'bool' takes only bytes 0 and 1", () => {
  assert.throws(() => Tensor.from(new Uint8Array([0, 1, 2]), [3], { dtype: 'bool' }), coded('ERR_ARGUMENT', "dtype 'bool'", 'element 2 is 2'));
  const ok = Tensor.from(new Uint8Array([0, 1, 1]), [3], { dtype: 'bool' });
  assert.equal(ok.dtype, 'bool');
  ok.dispose();
});

test('configureTraining refuses non-finite and negative rates, and gradClip beyond float32 at configure time', async () => {
  const m = await SeqSam.load({ config: tinyConfig, seed: 2 });
  try {
    for (const lr of [NaN, Infinity, -1]) assert.throws(() => m.configureTraining({ lr }), coded('ERR_ARGUMENT', 'training.lr', String(lr)));
    assert.throws(() => m.configureTraining({ weightDecay: NaN }), coded('ERR_ARGUMENT', 'training.weightDecay'));
    assert.throws(() => m.configureTraining({ gradClip: 1e308 }), coded('ERR_ARGUMENT', 'training.gradClip', '1e+308'));
    assert.throws(() => m.configureTraining({ eps: 0 }), coded('ERR_ARGUMENT', 'training.eps'));
    assert.equal(m.training, null, 'a refused setup is not kept');
  } finally {
    m.dispose();
  }
});

test('a step whose loss is not finite throws ERR_NUMERIC and leaves weights and optimizer state untouched', async (t) => {
  const dir = tempDir(t);
  // Fixed matching: no assignment solver refuses the NaN costs first, so the step itself must.
  const m = await SeqSam.load({ config: tinyConfig, seed: 3, training: { numMasks: 4, lr: 1e-3, matching: 'fixed' } });
  try {
    (await m.trainStep(batch())).dispose(); // one real step, so the optimizer state is not all zeros
    const weights = await snapshot(m);
    const state = await optimizerState(m, join(dir, 'before.safetensors'));
    // Finite but huge embeddings overflow float32 inside the forward pass.
    await assert.rejects(m.trainStep(batch({ embeddings: embeddings(3e38) })), coded('ERR_NUMERIC', 'not finite', 'left unchanged'));
    await assertUnchanged(m, weights, 'non-finite step');
    // The refused step is not counted either: the optimizer still stands at step 1.
    assert.deepEqual(await optimizerState(m, join(dir, 'after.safetensors')), state);
    assert.deepEqual(state['optimizer.step'], [1]);
    const next = await m.trainStep(batch());
    assert.ok(Number.isFinite(next.loss));
    next.dispose();
  } finally {
    m.dispose();
  }
});

test('train() stops with a coded error on a schedule that returns NaN, and writes no checkpoint', async (t) => {
  const dir = tempDir(t);
  const m = await SeqSam.load({ config: tinyConfig, seed: 4 });
  try {
    const dataset = synthetic({ count: 8, size: 32, seed: 1 });
    const run = train({ model: m, dataset, split: { train: [0, 1, 2, 3] }, epochs: 1, batchSize: 2, schedule: (s) => (s === 0 ? 1e-4 : NaN), checkpointDir: dir, saveEvery: 1, progressBar: false });
    await rejectsCoded(run, 'ERR_ARGUMENT', 'schedule', 'step 1', 'NaN');
    const { tensors: saved, metadata } = await readSafetensors(join(dir, 'last.safetensors'));
    try {
      assert.equal(metadata.step, '1', 'the only checkpoint is the one before the bad rate');
      for (const [name, x] of Object.entries(saved)) {
        if (x.dtype === 'float32') assert.ok((await x.toTypedArray()).every(Number.isFinite), `${name} holds non-finite values`);
      }
    } finally {
      for (const x of Object.values(saved)) x.dispose();
    }
  } finally {
    m.dispose();
  }
});

test('train() stops with ERR_NUMERIC when a step diverges, naming the step and the last checkpoint', async (t) => {
  const dir = tempDir(t);
  const m = await SeqSam.load({ config: tinyConfig, seed: 5 });
  const original = m.trainStep;
  let calls = 0;
  m.trainStep = async function (...args) {
    if (++calls === 2) throw new SeqsamError('ERR_NUMERIC', 'trainStep: the loss (nan) or the gradient norm (nan) is not finite');
    return original.apply(this, args);
  };
  try {
    const dataset = synthetic({ count: 8, size: 32, seed: 1 });
    const run = train({ model: m, dataset, split: { train: [0, 1, 2, 3, 4, 5] }, epochs: 1, batchSize: 2, checkpointDir: dir, saveEvery: 1, logFile: join(dir, 'log.jsonl'), progressBar: false });
    await rejectsCoded(run, 'ERR_NUMERIC', 'step 2', 'last.safetensors');
    assert.match(readdirSync(dir).join(' '), /log\.jsonl/);
  } finally {
    m.dispose();
  }
});

// ---- Item 4: labels and label masks ----

test('labels and label masks other than 0/1, or not finite, are refused by name', async () => {
  const before = await snapshot(model);
  await assert.rejects(model.trainStep(batch({ labels: labels(255, Uint8Array) })), coded('ERR_ARGUMENT', 'labels', '0 and 1', '255'));
  await assert.rejects(model.trainStep(batch({ labels: labels(-1, Int8Array) })), coded('ERR_ARGUMENT', 'labels', '-1'));
  await assert.rejects(model.trainStep(batch({ labels: labels(NaN) })), coded('ERR_ARGUMENT', 'labels', 'NaN'));
  const nanMask = t(Float32Array.from([1, NaN, 1, 1, 1, 1]), [B, K]);
  await assert.rejects(model.trainStep(batch({ labelMask: nanMask })), coded('ERR_ARGUMENT', 'labelMask', 'NaN'));
  const halfMask = t(new Float32Array(B * K).fill(0.5), [B, K]);
  await assert.rejects(model.trainStep(batch({ labelMask: halfMask })), coded('ERR_ARGUMENT', 'labelMask', 'fractional'));
  await assert.rejects(model.evalStep(batch({ labels: labels(255, Uint8Array) })), coded('ERR_ARGUMENT', 'evalStep', 'labels'));
  await assertUnchanged(model, before, 'refused labels');
  // Binary labels of any dtype still train.
  const ok = await model.trainStep(batch({ labels: labels(1, Uint8Array) }), { update: false });
  assert.ok(Number.isFinite(ok.loss));
  ok.dispose();
});

// ---- Item 7: errors that had no code ----

test('checkpoint metadata that is not JSON, or a null trainer state, is ERR_CHECKPOINT naming the file', async (t) => {
  const dir = tempDir(t);
  const broken = join(dir, 'broken.safetensors');
  await model.save(broken, { training: '{not json' });
  await rejectsCoded(SeqSam.load({ config: tinyConfig, checkpoint: broken }), 'ERR_CHECKPOINT', broken, "'training'", 'not JSON');
  const nullTrainer = join(dir, 'null.safetensors');
  await model.save(nullTrainer, { trainer: 'null' });
  const m = await SeqSam.load({ config: tinyConfig, seed: 1 });
  try {
    await rejectsCoded(train({ model: m, dataset: synthetic({ count: 8, size: 32 }), epochs: 1, batchSize: 2, resume: nullTrainer, progressBar: false }), 'ERR_CHECKPOINT', nullTrainer, "'trainer'");
  } finally {
    m.dispose();
  }
});

test('predict without a prompt, or with a point that is not a pair, is ERR_ARGUMENT', async () => {
  await rejectsCoded(model.predict(embedding), 'ERR_ARGUMENT', 'prompt');
  await rejectsCoded(model.predict(embedding, null), 'ERR_ARGUMENT', 'prompt');
  await rejectsCoded(model.predict(embedding, { points: [5, 5], pointLabels: [1, 1] }), 'ERR_ARGUMENT', 'points[0]', '[x, y]');
  await rejectsCoded(model.predict(embedding, { box: 'x' }), 'ERR_ARGUMENT', 'box');
});

test('synthetic({ count: 2 ** 32 }), metrics.format({}) and save(5) are coded errors', async () => {
  assert.throws(() => synthetic({ count: 2 ** 32 }), coded('ERR_ARGUMENT', 'count', '1000000'));
  assert.throws(() => metrics.format({}), coded('ERR_ARGUMENT', 'result.mean'));
  assert.throws(() => metrics.format({ mean: {}, std: {} }), coded('ERR_ARGUMENT', 'result.mean.dice'));
  await rejectsCoded(model.save(5), 'ERR_ARGUMENT', 'path');
});

test('a checkpointDir that is a file and a logFile that is a folder are ERR_IO naming the option', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  const m = await SeqSam.load({ config: tinyConfig, seed: 1 });
  try {
    const common = { model: m, dataset: synthetic({ count: 8, size: 32 }), split: { train: [0, 1] }, epochs: 1, batchSize: 2, progressBar: false };
    await rejectsCoded(train({ ...common, checkpointDir: file }), 'ERR_IO', 'checkpointDir', file);
    await rejectsCoded(train({ ...common, checkpointDir: join(file, 'sub') }), 'ERR_IO', 'checkpointDir');
    await rejectsCoded(train({ ...common, logFile: folder }), 'ERR_IO', 'logFile', folder);
  } finally {
    m.dispose();
  }
});

test('the CLI: --out under a file is ERR_IO, --threads beyond the machine and bench --repeats 0 are ERR_ARGUMENT', async (t) => {
  const dir = tempDir(t);
  const image = join(dir, 'image.png');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toFile(image);
  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  const out = await seqsam(['predict', image, '--random-weights', '--box', '2', '2', '20', '20', '--out', join(file, 'sub')]);
  assert.ok(out.code !== 0 && !out.killed, out.stderr); // the exit code per error class is the CLI's own business
  assert.match(out.stderr, /\[ERR_IO\].*--out/);
  const threads = await seqsam(['predict', image, '--random-weights', '--box', '2', '2', '20', '20', '--out', join(dir, 'out'), '--threads', String(info().hardwareThreads + 1)]);
  assert.ok(threads.code !== 0 && !threads.killed, threads.stderr); // the exit code per error class is the CLI's own business
  assert.match(threads.stderr, /\[ERR_ARGUMENT\].*--threads/);
  const bench = await seqsam(['bench', '--repeats', '0']);
  assert.ok(bench.code !== 0 && !bench.killed, bench.stderr); // the exit code per error class is the CLI's own business
  assert.match(bench.stderr, /\[ERR_ARGUMENT\].*--repeats/);
  assert.doesNotMatch(bench.stdout, /NaN/);
});

// ---- Item 8: unbounded sizes (in child processes: before the bounds these hung or ran out of memory) ----

test('synthetic({ count: 1e9 }) is refused at once, not after the heap is exhausted', { timeout: 60_000 }, async () => {
  const r = await child(`
    import { data } from '#seqsam';
    const { synthetic } = data;
    try { synthetic({ count: 1e9 }); console.log('accepted'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `, 20_000);
  assert.equal(r.killed, false, 'timed out');
  const result = JSON.parse(r.stdout);
  assert.equal(result.code, 'ERR_ARGUMENT');
  assert.match(result.message, /count.*1000000/);
});

test('configs beyond every SAM preset are refused before the model is built', { timeout: 90_000 }, async () => {
  const r = await child(`
    import { SeqSam, tinyConfig } from '#seqsam';
    const cases = [
      ['encoder.depth', { encoder: { ...tinyConfig.encoder, depth: 1e9 } }],
      ['decoder.transformer_depth', { decoder: { ...tinyConfig.decoder, transformer_depth: 1e9 } }],
      ['decoder.iou_head_depth', { decoder: { ...tinyConfig.decoder, iou_head_depth: 1e9 } }],
      ['decoder.num_multimask_outputs', { decoder: { ...tinyConfig.decoder, num_multimask_outputs: 1e9 } }],
      ['image_size', { image_size: 65536 }],
    ];
    const out = [];
    for (const [field, change] of cases) {
      try { (await SeqSam.load({ config: { ...tinyConfig, ...change } })).dispose(); out.push({ field, accepted: true }); }
      catch (e) { out.push({ field, code: e.code, message: e.message }); }
    }
    console.log(JSON.stringify(out));
  `, 30_000);
  assert.equal(r.killed, false, `timed out: ${r.stderr}`);
  for (const c of JSON.parse(r.stdout)) {
    assert.equal(c.code, 'ERR_ARGUMENT', `${c.field}: ${c.message ?? 'accepted'}`);
    assert.ok(c.message.includes(c.field) && /at most \d+/.test(c.message), c.message);
  }
});

test('metrics.compute refuses an HM-IoU problem of lcm(M, K) beyond its limit instead of taking a minute', { timeout: 60_000 }, async () => {
  const r = await child(`
    import { metrics } from '#seqsam';
    const shape = (k) => ({ data: new Uint8Array(k * 16).fill(1), shape: [1, k, 4, 4] });
    try { await metrics.compute(shape(61), shape(59)); console.log('accepted'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `, 15_000);
  assert.equal(r.killed, false, 'timed out');
  const result = JSON.parse(r.stdout);
  assert.equal(result.code, 'ERR_ARGUMENT');
  assert.match(result.message, /lcm\(61, 59\) = 3599.*1024/);
});

test('setThreads beyond the hardware threads is refused', async () => {
  const r = await child(`
    import { info, setThreads } from '#seqsam';
    try { setThreads({ torch: info().hardwareThreads + 1 }); console.log('accepted'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `, 20_000);
  const result = JSON.parse(r.stdout);
  assert.equal(result.code, 'ERR_ARGUMENT');
  assert.match(result.message, /at most \d+/);
  void setThreads;
});

// ---- Item 10 (validation parts) ----

test('trainStep validates as predict does: point labels, numMasks, unknown keys', async () => {
  const points = t(Float32Array.from([10, 10, 20, 20]), [B, 1, 2]);
  const seven = t(Int32Array.from([7, 1]), [B, 1]);
  await rejectsCoded(model.trainStep(batch({ points, pointLabels: seven })), 'ERR_ARGUMENT', 'pointLabels', '7');
  await rejectsCoded(model.trainStep(batch(), { learningRate: 1 }), 'ERR_ARGUMENT', 'learningRate');
  await rejectsCoded(model.trainStep(batch({ label: labels() })), 'ERR_ARGUMENT', "'label'");
  await rejectsCoded(model.evalStep(batch(), { numMasks: 2.5 }), 'ERR_ARGUMENT', 'numMasks', '2.5');
  const m = await SeqSam.load({ config: tinyConfig, seed: 1 });
  try {
    assert.throws(() => m.configureTraining({ numMasks: 2.5 }), coded('ERR_ARGUMENT', 'numMasks', '2.5'));
    assert.throws(() => m.configureTraining({ learningRate: 1 }), coded('ERR_ARGUMENT', 'learningRate'));
  } finally {
    m.dispose();
  }
  await rejectsCoded(model.predict(embedding, { box: [0, 0, 10, 10], numMasks: 2.5 }), 'ERR_ARGUMENT', 'numMasks', '2.5');
});

test('a predict that fails validation leaves no tensor behind', async () => {
  const live = tensorStats().live;
  for (let i = 0; i < 200; i++) {
    await rejectsCoded(model.predict(embedding, { box: [0, 0, 10, 10], points: [[1, 1]], pointLabels: [7] }), 'ERR_ARGUMENT', 'pointLabels');
  }
  assert.ok(tensorStats().live <= live, `live tensors ${live} → ${tensorStats().live}`);
});

test('a cached embedding file full of NaN is refused, naming the file', async (t) => {
  const dir = tempDir(t);
  const sample = synthetic({ count: 1, size: 32 }).get(0);
  const writer = new EmbeddingCache({ dir });
  await writer.get(model, sample);
  const key = await writer.key(model, sample);
  const file = writer.path(key);
  writer.dispose();
  assert.ok(existsSync(file));
  const { tensors: stored, metadata } = await readSafetensors(file);
  const shape = stored.embedding.shape;
  for (const x of Object.values(stored)) x.dispose();
  const nan = Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(NaN), shape);
  await writeSafetensors(file, { embedding: nan }, metadata);
  nan.dispose();
  const reader = new EmbeddingCache({ dir });
  try {
    await rejectsCoded(reader.get(model, sample), 'ERR_DATA', file, 'NaN');
  } finally {
    reader.dispose();
  }
});
