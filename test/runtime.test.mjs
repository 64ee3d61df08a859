import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

import { info, manualSeed, setThreads, SeqsamError } from '../dist/lib/index.js';

const cli = fileURLToPath(new URL('../scripts/seqsam.mjs', import.meta.url));

// The CPUs online, as std::thread::hardware_concurrency counts them (glibc: /sys/devices/system/cpu/online,
// e.g. "0-15" or "0,2-5"). Not availableParallelism(): that counts only the CPUs this process may run on,
// fewer under taskset or a container's cpuset.
function onlineCpus() {
  const file = '/sys/devices/system/cpu/online';
  if (!existsSync(file)) return cpus().length;
  return readFileSync(file, 'utf8').trim().split(',').reduce((n, range) => {
    const [from, to = from] = range.split('-').map(Number);
    return n + to - from + 1;
  }, 0);
}

test('info reports versions, devices and the loaded binary', () => {
  const i = info();
  assert.match(i.version, /^\d+\.\d+\.\d+/);
  assert.match(i.torchVersion, /^\d+\.\d+/);
  assert.ok(i.binary.endsWith('seqsam.node'));
  assert.equal(i.hardwareThreads, onlineCpus());
  assert.ok(i.hardwareThreads >= availableParallelism());
  // Debian's LibTorch starts at one thread; the addon widens it to the CPUs this process may use (its
  // affinity, which Node's availableParallelism reads too).
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
  // The path of the loaded binary, whatever folder (spaces included) the checkout is in.
  const lines = Object.fromEntries(out.trim().split('\n').map((l) => [l.split(/\s+/)[0], l.replace(/^\S+\s+/, '')]));
  assert.equal(lines.binary, info().binary);
  assert.ok(lines.binary.endsWith('seqsam.node'));
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
