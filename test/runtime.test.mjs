import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

import { info, manualSeed, setThreads, SeqsamError } from '../dist/lib/index.js';

const cli = fileURLToPath(new URL('../scripts/seqsam.mjs', import.meta.url));

test('info reports versions, devices and the loaded binary', () => {
  const i = info();
  assert.match(i.version, /^\d+\.\d+\.\d+/);
  assert.match(i.torchVersion, /^\d+\.\d+/);
  assert.ok(i.binary.endsWith('seqsam.node'));
  assert.equal(i.hardwareThreads, availableParallelism());
  // Debian's LibTorch starts at one thread; the addon widens it to the machine.
  assert.equal(i.threads, availableParallelism());
  assert.equal(typeof i.cuda, 'boolean');
  assert.ok(i.cudaDevices >= 0);
});

test('setThreads changes the intra-op and BLAS pools and rejects nonsense', () => {
  const before = info();
  try {
    setThreads({ torch: 1, blas: 1 });
    assert.equal(info().threads, 1);
    if (before.blasThreads > 0) assert.equal(info().blasThreads, 1);
    assert.throws(() => setThreads({ torch: 0 }), (e) => e instanceof SeqsamError && e.code === 'ERR_ARGUMENT' && /torch/.test(e.message));
    assert.throws(() => setThreads({ blas: 1.5 }), (e) => e.code === 'ERR_ARGUMENT' && /blas/.test(e.message));
  } finally {
    setThreads({ torch: before.threads, blas: Math.max(1, before.blasThreads) });
  }
  assert.throws(() => manualSeed(-1), (e) => e.code === 'ERR_ARGUMENT');
});

test('`seqsam info` prints the versions and the binary path', () => {
  const out = execFileSync(process.execPath, [cli, 'info'], { encoding: 'utf8', env: { ...process.env, SEQSAM_NO_SETUP: '1' } });
  assert.match(out, /^seqsam\s+\d+\.\d+\.\d+/m);
  assert.match(out, /^LibTorch\s+\d+\.\d+/m);
  assert.match(out, /^binary\s+\S+seqsam\.node$/m);
  assert.match(out, /^CUDA\s+/m);
  const json = JSON.parse(execFileSync(process.execPath, [cli, 'info', '--json'], { encoding: 'utf8', env: { ...process.env, SEQSAM_NO_SETUP: '1' } }));
  assert.equal(json.torchVersion, info().torchVersion);
});

test('an unknown command exits 2 with usage', () => {
  assert.throws(
    () => execFileSync(process.execPath, [cli, 'no-such-command'], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, SEQSAM_NO_SETUP: '1' } }),
    (e) => e.status === 2 && /Unknown argument/.test(e.stderr),
  );
});
