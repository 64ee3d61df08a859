// Seeded fuzzing of every reader of untrusted files (torch.save archives, safetensors, LIDC pickles,
// NIfTI): only success or a coded SeqsamError is acceptable. The cases run in a child process, so a
// crash or a hang fails this test with the case that caused it instead of killing the runner.
// SEQSAM_FUZZ_SEED and SEQSAM_FUZZ_CASES run other or more cases.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { fixturesMissing, tempDir } from './helpers.mjs';

const seed = Number(process.env.SEQSAM_FUZZ_SEED ?? 20251127);
const cases = Number(process.env.SEQSAM_FUZZ_CASES ?? 4000);

test(`fuzzed files give only success or coded errors (seed ${seed}, ${cases} cases)`, { timeout: 600_000 }, async (t) => {
  const dir = tempDir(t, 'seqsam-fuzz-');
  const progress = join(dir, 'progress.json');
  const script = fileURLToPath(new URL('./children/fuzz-run.mjs', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', script, String(seed), String(cases), dir, progress], { encoding: 'utf8', timeout: 540_000, maxBuffer: 64 << 20 });
  const last = existsSync(progress) ? readFileSync(progress, 'utf8') : '(none)';
  assert.ok(r.status === 0 && !r.signal, `the fuzz child ${r.signal ? `died of ${r.signal}` : `exited ${r.status}`} at case ${last}\n${r.stderr.slice(-3000)}`);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1));
  // Every seed runs where the reference fixtures are present; without them, the seeds made here do.
  if (fixturesMissing) assert.ok(summary.leftOut.length > 0 && summary.planned > 0 && summary.planned < cases, JSON.stringify(summary));
  else assert.deepEqual(summary.leftOut, []);
  assert.equal(summary.cases, fixturesMissing ? summary.planned : cases);
  assert.deepEqual(summary.failures, [], 'uncoded errors');
  if (fixturesMissing) await t.test(`mutations of the reference fixture files (${summary.leftOut.join(', ')})`, { skip: fixturesMissing }, () => {});
  t.diagnostic(`${summary.cases} cases: ${summary.ok} read fine, coded errors ${JSON.stringify(summary.coded)}; slowest ${summary.slowest.ms} ms (${summary.slowest.name}: ${summary.slowest.how})`);
});
