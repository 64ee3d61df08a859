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
// holds. Resolves with how it ended, and when (ms after the start) each of its output lines arrived.
function runChild(script, args, killAfterMs, trigger) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const p = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer = null;
    const lineTimes = [];
    const arm = () => (timer ??= setTimeout(() => p.kill('SIGKILL'), killAfterMs));
    p.stdout.on('data', (d) => {
      stdout += d;
      while (lineTimes.length < stdout.split('\n').length - 1) lineTimes.push(performance.now() - started);
      if (trigger && killAfterMs !== undefined && trigger(stdout)) arm();
    });
    p.stderr.on('data', (d) => (stderr += d));
    if (!trigger && killAfterMs !== undefined) arm();
    p.on('error', reject);
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, lineTimes });
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
  // The time one step takes here (training and saving), from when the uninterrupted run's step lines
  // arrived: the kills below land within that much after a chosen step, so each lands mid-run on a
  // fast machine as on a slow one.
  const stepLines = straight.stdout.split('\n').flatMap((line, i) => (/^step \d+$/.test(line) ? [straight.lineTimes[i]] : []));
  assert.equal(stepLines.length, steps, straight.stdout);
  assert.ok(steps >= 5, `${steps} steps leave room for three kills`);
  const stepMs = (stepLines.at(-1) - stepLines[0]) / (steps - 1);

  const random = mulberry32(21);
  const ckDir = join(dir, 'killed');
  let kills = 0;
  let finished = null;
  const log = [];
  for (let attempt = 0; attempt < 12 && !finished; attempt++) {
    // The first three runs die at a random moment (mid-step or mid-save) within one step's time after a
    // random step, each in its own third of steps 1 … steps − 2, so at least two steps are still to run;
    // later runs go to the end.
    const third = (steps - 2) / 3;
    const atStep = attempt < 3 ? 1 + Math.floor(attempt * third + random() * third) : steps;
    const killAfter = attempt < 3 ? Math.floor(random() * stepMs) : undefined;
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
  t.diagnostic(`${log.join('; ')}; ${steps} steps of ${Math.round(stepMs)} ms, ${Object.keys(a.tensors).length} tensors compared (weights and optimizer state)`);
});

test('an allocation beyond the machine is a catchable ERR_OUT_OF_MEMORY; the process works on', async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const embedding = await model.embed({ data: new Uint8Array(64 * 48 * 3).fill(9), width: 64, height: 48, channels: 3 });
  const before = tensorStats();
  // Masks at a 4·10⁸ × 4·10⁸ original size: 6.4·10¹⁷ bytes for one float mask, more than any x86-64 or
  // arm64 address space holds (2⁵⁷ ≈ 1.4·10¹⁷ bytes with 5-level paging), so every allocator refuses it at
  // once, overcommitting or not; the sizes stay far from int64 overflow (< 2⁶³ bytes for all the masks).
  const side = 400_000_000;
  assert.ok(side * side * 4 > 2 ** 57 && side * side * 4 * 2 * 3 < 2 ** 63);
  const huge = new ImageEmbedding(embedding.tensor, [side, side], [256, 256]);
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
