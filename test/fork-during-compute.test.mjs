// A process that spawns children while seqsam computes must not hang. Node's spawn forks, and OpenBLAS's
// fork handler stops its worker threads before a fork: a matmul in flight on them then never ends, nor does
// the fork (seen as a test process stuck at 100% CPU after its last test). The scenario runs in a child
// process with a deadline, so a hang fails here instead of stalling the suite.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

const script = fileURLToPath(new URL('./children/fork-during-compute.mjs', import.meta.url));

test('children spawned (forked) while native encoder passes run: every pass and every spawn completes', { timeout: 180000 }, async (t) => {
  const started = Date.now();
  const child = spawn(process.execPath, [script, '6'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // Six passes take a few seconds on two cores; a minute is a hang on any machine this runs on.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60000);
  const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(deadline);
  assert.equal(signal, null, `the process hung and was killed after ${Date.now() - started} ms (stderr: ${stderr.slice(-500)})`);
  assert.equal(code, 0, stderr.slice(-1000));
  const result = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(result.passes, 6);
  assert.ok(result.spawns > 0, 'children were spawned during the passes');
  t.diagnostic(`${result.spawns} spawns during ${result.passes} passes, ${Date.now() - started} ms`);
});
