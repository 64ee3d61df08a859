// Hostile inputs on the native side: worker termination mid-call, checkpoint pickles built to explode,
// concurrent saves of one file, half-applied restores, degenerate images and typed arrays, and names
// that are not plain identifiers. Where the failure mode is a crash or a hang, the case runs in a child
// process with a time limit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { SeqSam, Tensor, checkpoint, tensorStats, tinyConfig } from '../dist/lib/index.js';
import { rejectsCoded, tempDir } from './helpers.mjs';
import { Pickle, torchArchive } from './torch-archive.mjs';

const indexUrl = new URL('../dist/lib/index.js', import.meta.url).href;

// Runs an ES module source in a child Node process; resolves with its exit code, signal and output.
function runModule(source, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function throwsCoded(fn, code, ...fragments) {
  assert.throws(fn, (e) => {
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `'${e.message}' should name ${f}`);
    return true;
  });
}

// --- worker termination ---------------------------------------------------------------------------

test('terminating a worker thread inside seqsam calls leaves the process running', { timeout: 180_000 }, async () => {
  // Each worker loops on one kind of call (sync, async, model construction); the parent terminates it
  // mid-loop, several times, and must then exit normally.
  const source = `
    import { Worker } from 'node:worker_threads';
    const body = (mode) => \`
      const { parentPort } = await import('node:worker_threads');
      const s = await import(${JSON.stringify(indexUrl)});
      const mode = \${JSON.stringify(mode)};
      const model = mode === 'embed' ? await s.Sam.load({ config: s.tinyConfig }) : null;
      const pixels = { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 };
      let reported = false;
      for (;;) {
        if (mode === 'stats') s.tensorStats();
        else if (mode === 'info') s.info();
        else if (mode === 'from') s.Tensor.from(new Float32Array(64), [8, 8]).dispose();
        else if (mode === 'embed') (await model.embed(pixels)).dispose();
        else if (mode === 'load') (await s.Sam.load({ config: s.tinyConfig })).dispose();
        if (!reported) { parentPort.postMessage('looping'); reported = true; }
      }\`;
    for (const mode of ['stats', 'info', 'from', 'embed', 'load']) {
      for (let round = 0; round < 3; round++) {
        const worker = new Worker(body(mode), { eval: true });
        const looping = new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
        await looping;
        await new Promise((r) => setTimeout(r, 150 + round * 50));
        await worker.terminate();
      }
      console.log('terminated', mode);
    }
    console.log('done');
  `;
  const r = await runModule(source, 170_000);
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /done/);
});

// --- checkpoint pickles ---------------------------------------------------------------------------

// A state dict whose every level holds the previous one twice: 2^depth names if flattened naively.
function doublingArchive(depth) {
  const p = new Pickle().op('}', 'q', 0, '(').str('w').tensor({ numel: 1, size: [1], stride: [1] }).op('u');
  for (let level = 1; level <= depth; level++) p.op('}', '(').str('a').op('h', level - 1).str('b').op('h', level - 1).op('u', 'q', level);
  return torchArchive(p, { 0: new Float32Array([1]) });
}

test('a state dict that reaches one dict twice is refused, naming the file', async (t) => {
  const path = join(tempDir(t), 'doubling.pth');
  writeFileSync(path, doublingArchive(16));
  await rejectsCoded(checkpoint.readTorchCheckpoint(path), 'ERR_CHECKPOINT', path, 'shared');
  assert.equal(tensorStats().live, 0);
});

test('a 40-level doubling pickle (2^40 names) is refused quickly, without growing memory', { timeout: 60_000 }, async (t) => {
  const path = join(tempDir(t), 'doubling40.pth');
  const bytes = doublingArchive(40);
  assert.ok(bytes.length < 4096, `${bytes.length} bytes`);
  writeFileSync(path, bytes);
  const r = await runModule(
    `const { checkpoint } = await import(${JSON.stringify(indexUrl)});
     try { await checkpoint.readTorchCheckpoint(${JSON.stringify(path)}); console.log('loaded'); }
     catch (e) { console.log(e.code, e.message); }`,
    30_000,
  );
  assert.equal(r.signal, null, `killed after 30 s (still enumerating names?): ${r.stderr}`);
  assert.match(r.stdout, /^ERR_CHECKPOINT .*doubling40\.pth.*shared/m);
});

test('a list chain a million levels deep is freed without overflowing the stack', { timeout: 60_000 }, async (t) => {
  // Built top-down (each new list appended to the one before, then recalled from the memo), so the depth
  // recorded at each append stays 1 while the chain is a million long.
  const levels = 1_000_000;
  const ops = [0x80, 0x02, 0x5d, 0x72, 0, 0, 0, 0];
  for (let i = 1; i <= levels; i++) {
    const put = Buffer.alloc(4);
    put.writeUInt32LE(i);
    const get = Buffer.alloc(4);
    get.writeUInt32LE(i);
    ops.push(0x5d, 0x72, ...put, 0x61, 0x6a, ...get); // EMPTY_LIST, LONG_BINPUT i, APPEND, LONG_BINGET i
  }
  ops.push(0x2e);
  const path = join(tempDir(t), 'chain.pth');
  writeFileSync(path, torchArchive(Uint8Array.from(ops)));
  const r = await runModule(
    `const { checkpoint } = await import(${JSON.stringify(indexUrl)});
     try { await checkpoint.readTorchCheckpoint(${JSON.stringify(path)}); console.log('loaded'); }
     catch (e) { console.log(e.code, e.message); }`,
    50_000,
  );
  assert.equal(r.signal, null, `${r.signal}: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ERR_CHECKPOINT /m);
});

// --- concurrent saves -----------------------------------------------------------------------------

test('concurrent saves of one file leave one whole checkpoint: the last to finish', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ckpt.safetensors');
  const n = 2 * 1024 * 1024;
  const contents = [1, 2, 3, 4].map((v) => Tensor.from(new Float32Array(n).fill(v), [n]));
  t.after(() => contents.forEach((c) => c.dispose()));
  for (let round = 0; round < 6; round++) {
    const finished = [];
    await Promise.all(
      contents.map((values, i) => checkpoint.writeSafetensors(path, { values }, { writer: String(i + 1) }).then(() => finished.push(i + 1))),
    );
    const { tensors, metadata } = await checkpoint.readSafetensors(path);
    const data = await tensors.values.toTypedArray();
    tensors.values.dispose();
    const writer = Number(metadata.writer);
    assert.ok(data.every((v) => v === writer), `round ${round}: the file mixes writers (its header says ${writer})`);
    assert.equal(writer, finished.at(-1), `round ${round}: the file is writer ${writer}'s, the last save to finish was ${finished.at(-1)}`);
  }
  assert.deepEqual(readdirSync(dir), ['ckpt.safetensors'], 'no temp files are left behind');
});

test('temp files of a dead writer, old and new naming, are removed by the next save', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ckpt.safetensors');
  // pid 2^22 + 1 is above Linux's pid_max default range for a live process here; both namings are stale.
  const deadPid = 4194305;
  writeFileSync(`${path}.tmp-${deadPid}`, 'x');
  writeFileSync(`${path}.tmp-${deadPid}-7`, 'x');
  writeFileSync(`${path}.tmp-${process.pid}-99999`, 'x'); // this process's own: possibly in flight, kept
  const values = Tensor.from(new Float32Array([1, 2]), [2]);
  await checkpoint.writeSafetensors(path, { values });
  values.dispose();
  assert.deepEqual(readdirSync(dir).sort(), ['ckpt.safetensors', `ckpt.safetensors.tmp-${process.pid}-99999`]);
});

// --- restore --------------------------------------------------------------------------------------

test('a restore refused for its optimizer state leaves the weights bit-identical', { timeout: 120_000 }, async (t) => {
  const path = join(tempDir(t), 'frozen-encoder.safetensors');
  const source = await SeqSam.load({ config: tinyConfig, seed: 1, training: { trainEncoder: false } });
  await source.save(path);
  source.dispose();

  const model = await SeqSam.load({ config: tinyConfig, seed: 2, training: { trainEncoder: true } });
  t.after(() => model.dispose());
  const snapshot = async () => {
    const weights = model.stateDict('all');
    const out = {};
    for (const [name, w] of Object.entries(weights)) out[name] = Buffer.from(new Uint8Array((await w.toTypedArray()).buffer)).toString('base64');
    Object.values(weights).forEach((w) => w.dispose());
    return out;
  };
  const before = await snapshot();
  await rejectsCoded(model.restore(path), 'ERR_CHECKPOINT', path, 'optimizer state lacks');
  const after = await snapshot();
  assert.deepEqual(Object.keys(after), Object.keys(before));
  for (const name of Object.keys(before)) assert.equal(after[name], before[name], `${name} changed in a refused restore`);
  assert.equal(model.training.trainEncoder, true);
});

// --- images -------------------------------------------------------------------------------------

test('a 100000×1 image embeds and predicts (at least one pixel per side after resizing)', { timeout: 120_000 }, async (t) => {
  const model = await SeqSam.load({ config: tinyConfig });
  t.after(() => model.dispose());
  for (const [width, height] of [[1, 100000], [100000, 1]]) {
    const data = new Uint8Array(width * height * 3).fill(128);
    const embedding = await model.embed({ data, width, height, channels: 3 });
    assert.ok(embedding.inputSize.every((s) => s >= 1), `inputSize ${embedding.inputSize}`);
    const out = await model.predict(embedding, { box: [0, 0, width, height], numMasks: 2 });
    assert.deepEqual(out.masks.shape, [1, 2, height, width]);
    out.dispose();
    embedding.dispose();
  }
});

// --- typed arrays and dtypes ----------------------------------------------------------------------

test('Tensor.from reads a SharedArrayBuffer-backed typed array', async () => {
  const shared = new Float32Array(new SharedArrayBuffer(16 + 4 * 6), 16, 6);
  shared.set([1, 2, 3, 4, 5, 6]);
  const t = Tensor.from(shared, [2, 3]);
  assert.deepEqual(await t.toArray(), [1, 2, 3, 4, 5, 6]);
  t.dispose();
});

test('Tensor.from refuses a dtype its data does not hold, naming both', () => {
  throwsCoded(() => Tensor.from(new Float32Array([1.5, 2]), [2], { dtype: 'int8' }), 'ERR_ARGUMENT', "'int8'", 'Float32Array');
  throwsCoded(() => Tensor.from(new Int32Array([1, 2]), [2], { dtype: 'float32' }), 'ERR_ARGUMENT', "'float32'", 'Int32Array');
  // The readings of the same bytes stay allowed.
  const b = Tensor.from(new Uint8Array([0, 1]), [2], { dtype: 'bool' });
  const h = Tensor.from(new Uint16Array([0x3f80]), [1], { dtype: 'bfloat16' });
  assert.equal(b.dtype, 'bool');
  assert.equal(h.dtype, 'bfloat16');
  b.dispose();
  h.dispose();
  assert.equal(tensorStats().live, 0);
});

// --- names ----------------------------------------------------------------------------------------

// A safetensors file written by hand (as another library would), so names are exactly the given ones.
function safetensorsFile(names) {
  const header = {};
  names.forEach((name, i) => Object.defineProperty(header, name, { value: { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] }, enumerable: true }));
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.from(new Float32Array(names.map((_, i) => i + 1)).buffer);
  return Buffer.concat([length, json, data]);
}

test('safetensors names keep NULs and __proto__ is a tensor like any other', async (t) => {
  const path = join(tempDir(t), 'names.safetensors');
  writeFileSync(path, safetensorsFile(['w\0a', 'w\0b', '__proto__']));
  const { tensors } = await checkpoint.readSafetensors(path);
  assert.deepEqual(Object.keys(tensors).sort(), ['__proto__', 'w\0a', 'w\0b']);
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assert.deepEqual(await tensors['w\0b'].toArray(), [2]);
  assert.deepEqual(await Object.getOwnPropertyDescriptor(tensors, '__proto__').value.toArray(), [3]);

  // And back out: the written file holds the same three names.
  const copy = join(tempDir(t), 'copy.safetensors');
  await checkpoint.writeSafetensors(copy, tensors);
  for (const tensor of Object.values(tensors)) tensor.dispose();
  assert.equal(tensorStats().live, 0, 'no tensor left behind');
  const header = await checkpoint.readSafetensorsHeader(copy);
  assert.deepEqual(header.entries.map((e) => e.name).sort(), ['__proto__', 'w\0a', 'w\0b']);
  assert.ok(readFileSync(copy).length > 0);
});

// --- batches --------------------------------------------------------------------------------------

test('an empty batch (B = 0) and out-of-range picks are refused naming the field', { timeout: 120_000 }, async (t) => {
  const model = await SeqSam.load({ config: tinyConfig, training: { numMasks: 3 } });
  t.after(() => model.dispose());
  const grid = 16;
  const channels = tinyConfig.prompt_embed_dim;
  const batch = (b, extra = {}) => ({
    embeddings: Tensor.from(new Float32Array(b * channels * grid * grid), [b, channels, grid, grid]),
    boxes: Tensor.from(new Float32Array(b * 4).fill(10), [b, 4]),
    labels: Tensor.from(new Float32Array(b * 2 * 64 * 64), [b, 2, 64, 64]),
    ...extra,
  });
  const dispose = (b) => Object.values(b).forEach((v) => v.dispose());

  const empty = batch(0);
  await rejectsCoded(model.trainStep(empty), 'ERR_SHAPE', 'batch', 'B = 0');
  dispose(empty);

  for (const picks of [[[0, 3]], [[-1, 0]]]) {
    const b = batch(1, { picks: Tensor.from(new BigInt64Array(picks[0].map(BigInt)), [1, 2]) });
    await rejectsCoded(model.trainStep(b), 'ERR_ARGUMENT', 'batch.picks', '0..2');
    dispose(b);
  }
  const fractional = batch(1, { picks: Tensor.from(new Float32Array([0.5, 1]), [1, 2]) });
  await rejectsCoded(model.trainStep(fractional), 'ERR_ARGUMENT', 'batch.picks', 'integer');
  dispose(fractional);

  // predict's prompt batch, straight to the native model (the TS layer packs prompts one per image).
  const embedding = await model.embed({ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32, channels: 3 });
  const emptyBoxes = Tensor.from(new Float32Array(0), [0, 4]);
  const options = { originalSize: [32, 32], inputSize: [32, 32], numMasks: 2 };
  await assert.rejects(async () => model.native.predict(embedding.tensor.handle, { boxes: emptyBoxes.handle }, options), (e) => {
    assert.equal(e.code, 'ERR_SHAPE', e.message);
    assert.match(e.message, /prompts\.boxes.*B = 0/);
    return true;
  });
  emptyBoxes.dispose();
  embedding.dispose();
});
