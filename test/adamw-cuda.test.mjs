// AdamW on a CUDA device: the fused kernel (capturable mode, LibTorch ≥ 2.2) against the multi-tensor and
// per-tensor forms, each held to the float64 AdamW of adamw-scenario.mjs with its derived rounding bound
// (and so the forms to each other within the sum of two bounds); gating, the device step count and the
// checkpoint round trip in fused mode; no host wait inside a step. Skipped without a CUDA build and a GPU.
import assert from 'node:assert/strict';
import test from 'node:test';

import { AdamWOptimizer } from '../dist/lib/adamw-ops.js';
import { Tensor, info } from '../dist/lib/index.js';
import { GATED, assertBitEqual, assertNearReference, initialParams, reference, runScenario, shapes, tensors } from './adamw-scenario.mjs';

const skip = info().cuda && info().builtWithCuda ? false : 'needs a CUDA build and a GPU';

// Whether this LibTorch has the fused kernel (2.2 or later); the reason to skip otherwise.
function fusedMissing() {
  const params = tensors(initialParams(), shapes, 'cuda');
  const opt = new AdamWOptimizer(params, {});
  Object.values(params).forEach((t) => t.dispose());
  try {
    opt.setKernels('fused');
    return false;
  } catch (error) {
    assert.equal(error.code, 'ERR_ARGUMENT');
    return `the fused kernel needs LibTorch 2.2 or later (${info().torchVersion} here)`;
  } finally {
    opt.dispose();
  }
}

test('CUDA: fused, multi-tensor and per-tensor forms, host-scalar and capturable, each within its bound of float64 AdamW', { skip, timeout: 120_000 }, async (t) => {
  const ref = reference();
  const forms = [
    { capturable: false, kernels: 'per-tensor' },
    { capturable: false, kernels: 'multi-tensor' },
    { capturable: true, kernels: 'per-tensor' },
    { capturable: true, kernels: 'multi-tensor' },
  ];
  const missing = fusedMissing();
  if (!missing) forms.push({ capturable: true, kernels: 'fused' });
  else t.diagnostic(`fused form left out: ${missing}`);
  const runs = {};
  for (const form of forms) {
    const label = `${form.capturable ? 'capturable' : 'host'} ${form.kernels}`;
    // runScenario checks on the way that the gated-off step leaves every tensor as it was, bit for bit, and
    // (capturable) that the device's step count equals the host's after every step.
    const run = await runScenario({ ...form, device: 'cuda' });
    assert.equal(run.kernelsUsed, form.kernels, label);
    runs[label] = run;
    t.diagnostic(`${label}: largest difference ${assertNearReference(run.params, ref, label).toFixed(3)} of its bound`);
  }
  // On the GPU 'auto' picks the multi-tensor form, or the fused kernel when capturable and available.
  const auto = await runScenario({ capturable: true, device: 'cuda', until: 1 });
  assert.equal(auto.kernelsUsed, missing ? 'multi-tensor' : 'fused');
  assert.equal((await runScenario({ device: 'cuda', until: 1 })).kernelsUsed, 'multi-tensor');
  // Every form counted the same steps: the gated one in none.
  for (const run of Object.values(runs)) assert.equal(run.state.step[0], runs['host per-tensor'].state.step[0]);
});

test('CUDA fused: a gated-off step leaves tensors and the device count unchanged; a resumed run continues bit for bit', { skip, timeout: 120_000 }, async (t) => {
  const missing = fusedMissing();
  if (missing) return t.skip(missing);
  const whole = await runScenario({ capturable: true, kernels: 'fused', device: 'cuda' });
  for (const stop of [GATED, GATED + 2]) {
    const first = await runScenario({ capturable: true, kernels: 'fused', device: 'cuda', until: stop });
    const resumed = await runScenario({ capturable: true, kernels: 'fused', device: 'cuda', from: { params: first.params, state: first.state, step: stop } });
    assertBitEqual(resumed.params, whole.params, `resumed before step ${stop}: parameters`);
    assertBitEqual(resumed.state, whole.state, `resumed before step ${stop}: state`);
  }
  // The gate as a device tensor that holds changes nothing against no gate.
  const ungated = await runScenario({ capturable: true, kernels: 'fused', device: 'cuda', flag: false });
  assertBitEqual(ungated.params, whole.params, 'gate that holds: parameters');
  // The fused kernel is refused outside capturable mode.
  const params = tensors(initialParams(), shapes, 'cuda');
  const opt = new AdamWOptimizer(params, {});
  Object.values(params).forEach((p) => p.dispose());
  opt.setKernels('fused');
  const grads = tensors(initialParams(3), shapes, 'cuda');
  opt.setGradients(grads);
  Object.values(grads).forEach((g) => g.dispose());
  assert.throws(() => opt.step(true), (e) => e.code === 'ERR_ARGUMENT' && /capturable/.test(e.message));
  assert.equal(opt.steps, 0, 'a refused step is not counted');
  const flag = Tensor.from(Uint8Array.from([1]), [], { dtype: 'bool' }); // on the CPU
  opt.setCapturable(true);
  assert.throws(() => opt.step(flag), (e) => e.code === 'ERR_DEVICE', 'capturable mode wants the flag on the device');
  flag.dispose();
  opt.dispose();
});

test('CUDA: stageScalars and step never make the host wait, in every form, gated or not (SEQSAM_CUDA_SYNC_CHECK=error)', { skip, timeout: 120_000 }, async () => {
  // A captured step must not read anything back: any synchronising CUDA call inside stageScalars() or
  // step() throws under the check (the scenario's reads of results happen between the calls).
  const forms = [
    { capturable: false, kernels: 'multi-tensor' },
    { capturable: true, kernels: 'per-tensor' },
    { capturable: true, kernels: 'multi-tensor' },
  ];
  if (!fusedMissing()) forms.push({ capturable: true, kernels: 'fused' });
  process.env.SEQSAM_CUDA_SYNC_CHECK = 'error';
  try {
    for (const form of forms) {
      for (const flag of [true, false]) await runScenario({ ...form, device: 'cuda', flag });
    }
  } finally {
    delete process.env.SEQSAM_CUDA_SYNC_CHECK;
  }
});
