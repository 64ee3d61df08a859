// The GPU assignment kernel without a GPU: its solver (native/cuda/hungarian_solver.cuh) compiled as host
// code, its warp emulated (lockstep and randomly interleaved fibers), equals the CPU solver on 100,000+
// random problems with ties; and the .cu files compile standalone with nvcc (sm_90) when nvcc is present.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../scripts/compile-cuda.mjs', import.meta.url));

test('GPU assignment solver, emulated on the host, equals the CPU solver; .cu files compile with nvcc', async (t) => {
  const result = spawnSync(process.execPath, [script, '--emulate=100000,300'], { encoding: 'utf8', env: { ...process.env, TORCH_CUDA_ARCH_LIST: '9.0' } });
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, output);
  const line = output.split('\n').find((l) => l.startsWith('{"lockstep"'));
  assert.ok(line, output);
  const counts = JSON.parse(line);
  assert.ok(counts.lockstep.problems >= 100_000, line);
  assert.ok(counts.lockstep.withTies >= 50_000, line);
  assert.equal(counts.lockstep.mismatches, 0, line);
  assert.ok(counts.fibers.problems >= 300, line);
  assert.equal(counts.fibers.mismatches, 0, line);
  assert.equal(counts.edgeCases, true, line);
  if (/nvcc not found/.test(output)) {
    t.diagnostic('nvcc not found: the standalone .cu compile was skipped');
  } else {
    assert.match(output, /ok {3}native\/cuda\/hungarian_cuda\.cu/, output);
  }
  t.diagnostic(line);
});
