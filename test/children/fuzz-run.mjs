// Feeds seeded mutations of checkpoint, pickle and NIfTI files to the readers; every case must succeed
// or fail with a SeqsamError. Runs in a child process so that a crash is reported, not fatal to the
// test runner: the case in progress is always on disk in <progressFile>.
//   node fuzz-run.mjs <seed> <scale> <workDir> <progressFile>   → JSON summary on stdout
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { SeqsamError, Tensor, checkpoint, data } from '../../dist/lib/index.js';
import { fixture, fixturesMissing, mulberry32 } from '../helpers.mjs';
import { mutate } from '../fuzz-mutate.mjs';
import { stateDictPickle, torchArchive } from '../torch-archive.mjs';

// `node --test test/` also runs every file under test/, without arguments: nothing to do then.
if (process.argv.length < 3) process.exit(0);

const [seed, scale, workDir, progressFile] = process.argv.slice(2);
const random = mulberry32(Number(seed));

async function readTensors(path) {
  const { tensors } = await checkpoint.readCheckpoint(path);
  for (const t of Object.values(tensors)) t.dispose();
}

async function readLidc(path) {
  const ds = await data.datasets.lidcPickle(path);
  for (let i = 0; i < ds.length; i++) await ds.get(i);
}

async function seeds() {
  const small = join(workDir, 'small.safetensors');
  const tensors = { a: Tensor.from(Float32Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]), b: Tensor.from(new Int32Array([1, 2, 3]), [3]) };
  await checkpoint.writeSafetensors(small, tensors, { note: 'fuzz' });
  Object.values(tensors).forEach((t) => t.dispose());
  const pickle = stateDictPickle({ w: { numel: 6, size: [2, 3], stride: [3, 1] }, v: { key: '1', numel: 4, size: [4], stride: [1] }, s: { numel: 6, offset: 2, size: [2, 2], stride: [1, 2] } });
  // Seeds read from the reference fixtures are left out where those are absent (the summary names them).
  const ours = !fixturesMissing;
  const read = (...parts) => () => readFileSync(fixture(...parts));
  const seg = read('formats', 'qubiq', 'training_data_v2', 'kidney', 'Training', 'case01', 'task01_seg01.nii.gz');
  // [name, bytes (or where the fixtures hold them), mutation kinds, reader, share of the cases]
  const all = [
    ['sam.pth', read('sam-tiny', 'sam.pth'), ['zip', 'pickle'], readTensors, 0.08],
    ['sam.safetensors', read('sam-tiny', 'sam.safetensors'), ['safetensors'], readTensors, 0.08],
    ['small.pth', torchArchive(pickle, { 0: new Float32Array(8), 1: new Float32Array(4) }), ['zip', 'pickle'], readTensors, 0.24],
    ['small.safetensors', readFileSync(small), ['safetensors'], readTensors, 0.2],
    ['protocol5.pickle', read('formats', 'lidc', 'protocol5.pickle'), ['pickle'], readLidc, 0.08],
    ['protocol2.pickle', read('formats', 'lidc', 'protocol2.pickle'), ['pickle'], readLidc, 0.04],
    ['protocol3_masks_array.pickle', read('formats', 'lidc', 'protocol3_masks_array.pickle'), ['pickle'], readLidc, 0.08],
    ['seg.nii', () => gunzipSync(seg()), ['nifti'], (p) => data.readNifti(p), 0.14],
    ['seg.nii.gz', seg, ['gzip'], (p) => data.readNifti(p), 0.06],
  ];
  summary.leftOut = all.filter(([, bytes]) => typeof bytes === 'function' && !ours).map(([name]) => name);
  return all
    .filter(([, bytes]) => typeof bytes !== 'function' || ours)
    .map(([name, bytes, ...rest]) => [name, typeof bytes === 'function' ? bytes() : bytes, ...rest]);
}

const timeLimitMs = 20_000;
const summary = { cases: 0, planned: 0, leftOut: [], ok: 0, coded: {}, failures: [], slowest: { ms: 0 } };
const seedFiles = await seeds();
for (const [, , , , share] of seedFiles) summary.planned += Math.round(Number(scale) * share);
for (const [name, bytes, kinds, read, share] of seedFiles) {
  const count = Math.round(Number(scale) * share);
  const ext = name.slice(name.indexOf('.'));
  for (let i = 0; i < count; i++) {
    const kind = kinds[Math.floor(random() * kinds.length)];
    const { data: mutated, how } = mutate(bytes, kind, random);
    const path = join(workDir, `case${ext}`);
    writeFileSync(path, mutated);
    const description = { name, case: i, how };
    writeFileSync(progressFile, JSON.stringify(description));
    const started = performance.now();
    let timer;
    try {
      await Promise.race([read(path), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeLimitMs} ms`)), timeLimitMs)))]);
      summary.ok += 1;
    } catch (error) {
      if (error instanceof SeqsamError) summary.coded[error.code] = (summary.coded[error.code] ?? 0) + 1;
      else summary.failures.push({ ...description, error: `${error?.constructor?.name}: ${error?.message ?? error}`.slice(0, 300) });
    } finally {
      clearTimeout(timer);
    }
    const ms = performance.now() - started;
    if (ms > summary.slowest.ms) summary.slowest = { ...description, ms: Math.round(ms) };
    summary.cases += 1;
  }
}
process.stdout.write(`${JSON.stringify(summary)}\n`);
