// `seqsam train --nproc N` and `seqsam embed --nproc N`: local ranks as child processes of the launcher,
// rank 0 alone reporting; a failing rank makes the launcher fail, naming it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { train } from '../dist/lib/index.js';
import { runCli, tempDir } from './helpers.mjs';

const seqsam = (args) => runCli(args, { timeoutMs: 120000 });

function files(dir) {
  return readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.safetensors'));
}

test('seqsam embed --nproc 2 fills the cache with the dataset shared across ranks', { timeout: 150000 }, async (t) => {
  const dir = tempDir(t, 'seqsam-dist-embed-');
  const r = await seqsam(['embed', '--data', 'synthetic:count=6,size=64', '--nproc', '2', '--cache-dir', dir, '--progress', 'false']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^6 images: 6 embedded, 0 already cached/m);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'one summary, from rank 0');
  assert.equal(files(dir).length, 6);
});

test('seqsam train --nproc 2 trains data-parallel; only rank 0 reports and writes', { timeout: 150000 }, async (t) => {
  const dir = tempDir(t, 'seqsam-dist-cli-');
  const out = join(dir, 'run');
  const r = await seqsam(['train', '--data', 'synthetic:count=10,size=64', '--epochs', '1', '--batch-size', '2', '--nproc', '2', '--out', out, '--progress-every', '1']);
  assert.equal(r.code, 0, r.stderr);
  // 8 training images of 10 (80 %), global batches of 2 ranks × 2: 2 steps.
  assert.match(r.stdout, /^trained 2 steps; last checkpoint /m);
  assert.ok(r.stderr.includes('[rank 0] progress'), r.stderr);
  assert.ok(!r.stderr.includes('[rank 1] progress'), 'rank 1 draws no progress');
  const state = await train.readTrainerState(join(out, 'last.safetensors'));
  assert.equal(state.state.worldSize, 2);
  const steps = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step');
  assert.equal(steps.length, 2);
});

test('a rank that fails makes seqsam --nproc fail, naming the rank', { timeout: 150000 }, async (t) => {
  const dir = tempDir(t, 'seqsam-dist-cli-fail-');
  // A missing dataset fails the ranks before the group forms; the launcher reports the first to exit.
  const r = await seqsam(['train', '--data', `folder:${join(dir, 'missing')}`, '--epochs', '1', '--nproc', '2', '--out', join(dir, 'run')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /\[rank [01]\] seqsam \[ERR_/);
  assert.match(r.stderr, /seqsam \[ERR_DISTRIBUTED\]: rank [01] of 2 exited with code \d+/);
});
