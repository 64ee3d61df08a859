// Faults: checkpoints survive `kill -9` at any point (written to a temp file, then renamed), a training
// run killed at random points and resumed ends with the weights of an uninterrupted run, and an
// allocation far beyond the machine is a catchable ERR_OUT_OF_MEMORY after which the process works on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ImageEmbedding, SeqSam, SeqsamError, checkpoint, tensorStats, tinyConfig } from '../dist/lib/index.js';
import { mulberry32, tempDir } from './helpers.mjs';

const child = (name) => fileURLToPath(new URL(`./children/${name}`, import.meta.url));

// Runs a child; kills it with SIGKILL `killAfterMs` after it started, or after `trigger(output)` first
// holds. Resolves with how it ended.
function runChild(script, args, killAfterMs, trigger) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer = null;
    const arm = () => (timer ??= setTimeout(() => p.kill('SIGKILL'), killAfterMs));
    p.stdout.on('data', (d) => {
      stdout += d;
      if (trigger && killAfterMs !== undefined && trigger(stdout)) arm();
    });
    p.stderr.on('data', (d) => (stderr += d));
    if (!trigger && killAfterMs !== undefined) arm();
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function readAll(path) {
  const { tensors, metadata } = await checkpoint.readSafetensors(path);
  const out = {};
  for (const [name, t] of Object.entries(tensors)) {
    const values = await t.toTypedArray();
    out[name] = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    t.dispose();
  }
  return { tensors: out, metadata };
}

test('a checkpoint killed mid-write leaves the previous one whole', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'ckpt.safetensors');
  const random = mulberry32(8);
  for (let round = 0; round < 8; round++) {
    // Killed at a random moment once saving is under way: mid-write, mid-rename or between saves.
    const delay = Math.floor(random() * 400);
    const r = await runChild(child('save-loop.mjs'), [path], delay, (out) => out.includes('saved'));
    assert.equal(r.signal, 'SIGKILL', `the save loop runs until killed (${r.stderr})`);
    const { tensors, metadata } = await checkpoint.readSafetensors(path);
    const values = await tensors.values.toTypedArray();
    tensors.values.dispose();
    const expected = Number(metadata.round) % 2 === 0 ? 1 : 2;
    assert.equal(values.length, 8 * 1024 * 1024);
    assert.ok(values.every((v) => v === expected), `round ${metadata.round}: one whole content`);
  }
  // Beside it, at most the temp file of the last killed writer (each save removes those of dead ones).
  const others = readdirSync(dir).filter((f) => f !== 'ckpt.safetensors');
  assert.ok(others.length <= 1 && others.every((f) => f.startsWith('ckpt.safetensors.tmp-')), others.join(', '));
});

test('training killed at random points and resumed ends with the uninterrupted weights', { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t);
  const script = child('train-resumable.mjs');
  const started = Date.now();
  const straight = await runChild(script, [join(dir, 'straight'), join(dir, 'straight.safetensors')]);
  const duration = Date.now() - started;
  assert.equal(straight.code, 0, straight.stderr);
  const steps = JSON.parse(straight.stdout.trim().split('\n').at(-1)).steps;

  const random = mulberry32(21);
  const ckDir = join(dir, 'killed');
  let kills = 0;
  let finished = null;
  const log = [];
  for (let attempt = 0; attempt < 12 && !finished; attempt++) {
    // The first three runs die at a random point after a random step (mid-step or mid-save); later ones
    // run to the end.
    const atStep = 1 + Math.floor(random() * (steps - 1));
    const killAfter = attempt < 3 ? Math.floor(random() * 60) : undefined;
    const r = await runChild(script, [ckDir, join(dir, 'resumed.safetensors')], killAfter, (out) => [...out.matchAll(/^step (\d+)$/gm)].some((m) => Number(m[1]) >= atStep));
    log.push(killAfter === undefined ? `no kill: exit ${r.code}` : `${killAfter} ms after step ${atStep}: ${r.signal ?? `exit ${r.code}`}`);
    if (r.signal === 'SIGKILL') {
      kills += 1;
      // Whatever checkpoint is there is whole.
      if (existsSync(join(ckDir, 'last.safetensors'))) await readAll(join(ckDir, 'last.safetensors'));
      continue;
    }
    assert.equal(r.code, 0, r.stderr);
    finished = JSON.parse(r.stdout.trim().split('\n').at(-1));
  }
  assert.ok(finished, 'the run finished');
  assert.ok(kills >= 2, `killed at least twice (${log.join('; ')}; uninterrupted run ${duration} ms)`);
  assert.equal(finished.steps, steps);

  const a = await readAll(join(dir, 'straight.safetensors'));
  const b = await readAll(join(dir, 'resumed.safetensors'));
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  for (const name of Object.keys(a.tensors)) assert.ok(a.tensors[name].equals(b.tensors[name]), `${name} is bit-identical`);
  t.diagnostic(`${log.join('; ')}; ${steps} steps, ${Object.keys(a.tensors).length} tensors compared (weights and optimizer state)`);
});

test('an allocation beyond the machine is a catchable ERR_OUT_OF_MEMORY; the process works on', async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const embedding = await model.embed({ data: new Uint8Array(64 * 48 * 3).fill(9), width: 64, height: 48, channels: 3 });
  const before = tensorStats();
  // Masks at a 10⁶ × 10⁶ original size: terabytes, refused by the allocator at once.
  const huge = new ImageEmbedding(embedding.tensor, [1_000_000, 1_000_000], [256, 256]);
  await assert.rejects(model.predict(huge, { box: [0, 0, 10, 10], numMasks: 2 }), (e) => {
    assert.ok(e instanceof SeqsamError);
    assert.equal(e.code, 'ERR_OUT_OF_MEMORY', e.message);
    assert.match(e.message, /allocate/);
    return true;
  });
  assert.deepEqual(tensorStats(), before, 'nothing leaked by the failed call');
  const out = await model.predict(embedding, { box: [0, 0, 10, 10], numMasks: 2 });
  assert.deepEqual(out.masks.shape, [1, 2, 48, 64]);
  out.dispose();
  embedding.dispose();
  model.dispose();
});
