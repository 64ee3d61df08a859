// AdamW's modes against each other and against closed forms: capturable (rate and step count as device
// tensors, the step's scalars derived there) against host scalars, multi-tensor against per-tensor kernels,
// checkpoint state round trips, gating, and refused states. On the CPU; the fused CUDA kernel is in
// adamw-cuda.test.mjs.
import assert from 'node:assert/strict';
import test from 'node:test';

import { join } from 'node:path';

import { AdamWOptimizer } from '../dist/lib/adamw-ops.js';
import { SeqSam, Tensor, checkpoint, tinyConfig } from '../dist/lib/index.js';
import {
  GATED, STEPS, WEIGHT_DECAY, assertBitEqual, assertNearReference, gradientsAt, initialParams, lrAt, optimizerWithGradients, read, reference, runScenario, shapes, snapshot, tensors, u,
} from './adamw-scenario.mjs';
import { rejectsCoded, tempDir, tinyEmbeddingBatch, withEnvironment } from './helpers.mjs';

const exempt = (name) => /\.bias$/.test(name) || /\.norm\d\.weight$/.test(name);

async function coded(fn, code, fragment) {
  assert.throws(fn, (e) => e.code === code && (!fragment || e.message.includes(fragment)), `expected ${code}${fragment ? ` mentioning '${fragment}'` : ''}`);
}

test('one step from zero moments is p·(1 − lr·wd) − lr·g/(|g| + ε) in both modes, decay-exempt parameters undecayed', async () => {
  // From m = v = 0: m1 = (1−β1)g, v1 = (1−β2)g², and the bias corrections cancel both factors, so the
  // update is lr·g/(|g| + ε) exactly in real arithmetic. float32 evaluates it in about a dozen roundings
  // (≤ u each): m1 2, v1 3, √ and the bias correction 3, + ε 1, the step size, product and quotient 3:
  // ≤ 12u·lr on the update; the decay p·d 2u·|p| and the final sum u·|p1|. Held to u·(4|p0| + 16·lr).
  const lr = lrAt(3);
  const p0 = initialParams(7);
  const g = gradientsAt(0);
  for (const capturable of [false, true]) {
    const opt = optimizerWithGradients(p0, g, { lr, weightDecay: WEIGHT_DECAY, decayExempt: 'bias-and-norm' }, { capturable });
    opt.step(true);
    const p1 = await read(opt.params());
    opt.dispose();
    for (const name of Object.keys(p0)) {
      const decay = exempt(name) ? 1 : 1 - lr * WEIGHT_DECAY;
      for (let i = 0; i < p0[name].length; i++) {
        const x = p0[name][i];
        const expected = g[name] ? x * decay - (lr * g[name][i]) / (Math.abs(g[name][i]) + 1e-8) : x;
        const tolerance = u * (4 * Math.abs(x) + 16 * lr);
        assert.ok(Math.abs(p1[name][i] - expected) <= tolerance, `${capturable ? 'capturable' : 'host'} ${name}[${i}]: ${p1[name][i]} vs ${expected} (±${tolerance})`);
      }
    }
  }
});

test('multi-tensor and per-tensor kernels give bit-identical runs, in host-scalar and capturable mode', async () => {
  // On the CPU a _foreach_ op is a loop over the same per-tensor op with the same scalars: equal bit for bit.
  for (const capturable of [false, true]) {
    const perTensor = await runScenario({ capturable, kernels: 'per-tensor' });
    const multiTensor = await runScenario({ capturable, kernels: 'multi-tensor' });
    assert.equal(perTensor.kernelsUsed, 'per-tensor');
    assert.equal(multiTensor.kernelsUsed, 'multi-tensor');
    const mode = capturable ? 'capturable' : 'host';
    assertBitEqual(multiTensor.params, perTensor.params, `${mode}: parameters`);
    assertBitEqual(multiTensor.state, perTensor.state, `${mode}: state`);
  }
  // And the default on the CPU is the per-tensor form (each tensor stays in cache through its stages).
  assert.equal((await runScenario({ capturable: false })).kernelsUsed, 'per-tensor');
});

test('a gate given as a tensor that holds changes nothing against an ungated step', async () => {
  // Gated, the update is computed on copies and selected where the flag holds: the same bits.
  for (const capturable of [false, true]) {
    const gated = await runScenario({ capturable, flag: true });
    const plain = await runScenario({ capturable, flag: false });
    assertBitEqual(gated.params, plain.params, `${capturable ? 'capturable' : 'host'}: parameters`);
    assertBitEqual(gated.state, plain.state, `${capturable ? 'capturable' : 'host'}: state`);
  }
});

test('capturable mode follows host-scalar mode within the bound of its float32 rate (changing lr, a gated-off step, exempt parameters)', async (t) => {
  // What differs: capturable mode holds the rate in float32 (relative rounding ≤ u) and derives the step
  // size, √(bias correction 2) and the decay 1 − lr·wd on the device in float64; each reaches the float32
  // kernels rounded once more (≤ u). The moments never see the rate: they must be equal bit for bit. Per
  // applied step, for one weight p with update B = stepSize·m/denom: the decay factors differ by ≤ 3u
  // (the rate's u·lr·wd and two roundings) and p·d by ≤ 5u|p|; the step sizes by ≤ 4u and the
  // denominators by ≤ 4u (a √bias2 whose float64 value may round to a neighbouring float32), so B by
  // ≤ 12u|B| with the two roundings of the product and quotient; the sum by u(|p'| + |p'|) more. That is
  // ≤ 7u|p| + 14u|B| per step, and a difference carried in p is multiplied by d ≤ 1, so the differences
  // add: |Δp_final| ≤ u·Σ_t (8|p_t| + 16|B_t|), with |B_t| ≤ |p_{t+1} − p_t| + lr_t·wd·|p_t| read off the host run.
  const host = await runScenario({ capturable: false });
  const capturable = await runScenario({ capturable: true });
  assertBitEqual(capturable.state, host.state, 'moments and step');
  let worst = 0;
  let differing = 0;
  for (const name of Object.keys(host.params)) {
    for (let i = 0; i < host.params[name].length; i++) {
      let tolerance = 0;
      for (let s = 0; s < STEPS; s++) {
        if (s === GATED) continue;
        const [p, next] = [host.trajectory[s][name][i], host.trajectory[s + 1][name][i]];
        tolerance += u * (8 * Math.abs(p) + 16 * (Math.abs(next - p) + lrAt(s) * WEIGHT_DECAY * Math.abs(p)));
      }
      const d = Math.abs(capturable.params[name][i] - host.params[name][i]);
      if (d > 0) differing++;
      worst = Math.max(worst, d / tolerance);
      assert.ok(d <= tolerance, `${name}[${i}]: capturable ${capturable.params[name][i]} vs host ${host.params[name][i]} (bound ${tolerance})`);
    }
  }
  t.diagnostic(`${differing} weights differ at all; the largest difference is ${worst.toFixed(3)} of its bound`);
  // The run moved every weight that had gradients: the comparison is not of untouched values.
  const start = initialParams();
  assert.ok(Object.keys(start).every((n) => host.params[n].some((v, i) => v !== start[n][i])), 'every parameter moved');
});

test('capturable: a step reads the staged device rate, not options().lr; stageScalars refuses a rate beyond float32 and keeps the staged one', async () => {
  const run = async (setUp) => {
    const opt = optimizerWithGradients(initialParams(), gradientsAt(0), { lr: 1e-3, weightDecay: WEIGHT_DECAY }, { capturable: true });
    setUp(opt);
    opt.step(true);
    const out = await snapshot(opt);
    opt.dispose();
    return out;
  };
  const staged = await run(() => {});
  const unstaged = await run((opt) => opt.setLr(5e-2)); // not staged: the device still holds 1e-3
  assertBitEqual(unstaged.params, staged.params, 'an unstaged rate is not used');
  const refused = await run((opt) => {
    opt.setLr(1e38);
    assert.throws(() => opt.stageScalars(), (e) => e.code === 'ERR_NUMERIC');
  });
  assertBitEqual(refused.params, staged.params, 'a refused rate leaves the staged one');
  const other = await run((opt) => {
    opt.setLr(5e-2);
    opt.stageScalars();
  });
  assert.ok(Object.keys(other.params).some((n) => other.params[n].some((v, i) => v !== staged.params[n][i])), 'a staged rate is used');
});

test('state round trip in capturable mode: a run resumed from state() continues bit for bit as the uninterrupted one', async () => {
  for (const kernels of ['per-tensor', 'multi-tensor']) {
    const whole = await runScenario({ capturable: true, kernels });
    for (const stop of [GATED, GATED + 2]) {
      const first = await runScenario({ capturable: true, kernels, until: stop });
      assert.equal(first.state.step[0], BigInt(stop > GATED ? stop - 1 : stop), 'the checkpoint counts the steps taken, not the gated one');
      const resumed = await runScenario({ capturable: true, kernels, from: { params: first.params, state: first.state, step: stop } });
      assertBitEqual(resumed.params, whole.params, `${kernels}, resumed before step ${stop}: parameters`);
      assertBitEqual(resumed.state, whole.state, `${kernels}, resumed before step ${stop}: state`);
    }
  }
  // A host-mode checkpoint resumes in capturable mode and the other way round, within the same run's bound:
  // the moments and the count carry over exactly.
  const host = await runScenario({ capturable: false, until: 6 });
  const resumed = await runScenario({ capturable: true, from: { params: host.params, state: host.state, step: 6 } });
  const whole = await runScenario({ capturable: true });
  assertBitEqual(resumed.state, whole.state, 'host checkpoint into capturable mode: state');
});

test('bad states are refused in both modes and leave the optimizer as it was; the device count follows loadState', async () => {
  for (const capturable of [false, true]) {
    const opt = optimizerWithGradients(initialParams(), gradientsAt(0), { lr: 1e-3, weightDecay: WEIGHT_DECAY }, { capturable });
    opt.step(true);
    opt.step(true);
    const before = await snapshot(opt);
    const good = opt.state();
    const name = 'transformer.layers.0.mlp.lin1.weight';
    const variants = [
      ['lacks', (s) => delete s[`${name}.exp_avg_sq`]],
      ['has shape', (s) => (s[`${name}.exp_avg`] = Tensor.from(new Float32Array(4), [2, 2]))],
      ['non-negative integer', (s) => (s.step = Tensor.from(Float32Array.from([2]), [1]))],
      ['non-negative integer', (s) => (s.step = Tensor.from(BigInt64Array.from([-1n]), [1]))],
      ['non-negative integer', (s) => (s.step = Tensor.from(BigInt64Array.from([1n, 2n]), [2]))],
    ];
    if (capturable) variants.push(['beyond', (s) => (s.step = Tensor.from(BigInt64Array.from([2n ** 24n]), [1]))]);
    for (const [fragment, spoil] of variants) {
      const state = { ...good };
      spoil(state);
      await coded(() => opt.loadState(state), 'ERR_CHECKPOINT', fragment);
      const after = await snapshot(opt);
      assertBitEqual(after.params, before.params, `refused (${fragment}): parameters`);
      assertBitEqual(after.state, before.state, `refused (${fragment}): state`);
      if (capturable) assert.equal(opt.deviceStep, 2);
    }
    const earlier = Object.fromEntries(Object.entries(good).map(([n, t]) => [n, t]));
    earlier.step = Tensor.from(BigInt64Array.from([7n]), [1]);
    opt.loadState(earlier);
    assert.equal(opt.steps, 7);
    assert.equal(opt.deviceStep, capturable ? 7 : null);
    Object.values(good).forEach((t) => t.dispose());
    earlier.step.dispose();
    opt.dispose();
  }
});

test('kernels and modes: fused needs CUDA, a float32 count caps capturable mode, a replayed step is counted on the host only in capturable mode', async () => {
  const params = tensors(initialParams(), shapes);
  const opt = new AdamWOptimizer(params, {});
  Object.values(params).forEach((t) => t.dispose());
  await coded(() => opt.setKernels('fused'), 'ERR_ARGUMENT', 'CUDA');
  await coded(() => opt.setKernels('fast'), 'ERR_ARGUMENT', "'auto'");
  assert.equal(opt.kernels, 'per-tensor');
  opt.setKernels('multi-tensor');
  assert.equal(opt.kernels, 'multi-tensor');
  await coded(() => opt.countReplayedStep(), 'ERR_ARGUMENT', 'capturable');
  opt.setCapturable(true);
  opt.countReplayedStep();
  assert.equal(opt.steps, 1, 'a replayed step counts on the host');
  assert.equal(opt.deviceStep, 0, 'the replay itself advanced the device count, not this');
  opt.retractStep();
  opt.setCapturable(false);
  // A run at 2^24 steps cannot count on in float32: capturable mode is refused, host mode goes on.
  const state = opt.state();
  state.step.dispose();
  state.step = Tensor.from(BigInt64Array.from([2n ** 24n]), [1]);
  opt.loadState(state);
  Object.values(state).forEach((t) => t.dispose());
  await coded(() => opt.setCapturable(true), 'ERR_ARGUMENT', 'float32');
  assert.equal(opt.deviceStep, null);
  opt.dispose();
  // Nor does a rate whose update would leave float32's range reach the device when the mode is switched on.
  const fresh = tensors(initialParams(), shapes);
  const other = new AdamWOptimizer(fresh, { lr: 1e38 });
  Object.values(fresh).forEach((t) => t.dispose());
  await coded(() => other.setCapturable(true), 'ERR_NUMERIC');
  assert.equal(other.deviceStep, null, 'still in host mode');
  other.dispose();
});

test('the default SeqSAM training path is untouched: host mode on the CPU reads the flag and skips a gated-off update', async () => {
  // Host mode, per-tensor, the flag a CPU tensor: the trainer's CPU path. A false flag returns before any
  // arithmetic, so non-finite gradients never meet the weights; the count goes back with retractStep.
  const opt = optimizerWithGradients(initialParams(), gradientsAt(GATED), { lr: 1e-3 });
  const before = await snapshot(opt);
  const flag = Tensor.from(Uint8Array.from([0]), [], { dtype: 'bool' });
  opt.step(flag);
  flag.dispose();
  assert.equal(opt.steps, 1);
  opt.retractStep();
  assert.equal(opt.steps, 0);
  const after = await snapshot(opt);
  assertBitEqual(after.params, before.params, 'parameters');
  assertBitEqual(after.state, before.state, 'state');
  opt.dispose();
});

test('every mode and kernel form against a float64 AdamW, each weight within its derived rounding bound', async (t) => {
  // The independent truth: torch.optim.AdamW's step in float64 (adamw-scenario.mjs), run over the same
  // scenario, with a per-weight bound on a float32 evaluation's distance from it, propagated step by step.
  const ref = reference();
  for (const capturable of [false, true]) {
    for (const kernels of ['per-tensor', 'multi-tensor']) {
      const run = await runScenario({ capturable, kernels });
      const worst = assertNearReference(run.params, ref, `${capturable ? 'capturable' : 'host'} ${kernels}`);
      t.diagnostic(`${capturable ? 'capturable' : 'host'} ${kernels}: largest difference ${worst.toFixed(3)} of its bound`);
    }
  }
  // Without the exemption every parameter decays: the float64 run tells the two setups apart.
  const everyDecay = await runScenario({ decayExempt: 'none' });
  assertNearReference(everyDecay.params, reference({ decayExempt: 'none' }), "decayExempt 'none'");
  assert.throws(() => assertNearReference(everyDecay.params, ref, 'x'), /float64 AdamW gives/, 'the bound is tight enough to see the exemption');
});

test('training steps with multi-tensor kernels (AdamW, and the gradient clipping: norms and scaling) equal per-tensor ones bit for bit on the CPU', async (t) => {
  // SEQSAM_ADAMW_KERNELS picks the trainer's kernels (auto: per tensor on the CPU, multi-tensor on a GPU).
  const batch = tinyEmbeddingBatch(31);
  const dir = tempDir(t);
  const train = (kernels, gradClip) => withEnvironment({ SEQSAM_ADAMW_KERNELS: kernels }, async () => {
    const model = await SeqSam.load({ config: tinyConfig, seed: 8, training: { numMasks: 3, lr: 1e-2, seed: 9, gradClip } });
    try {
      for (let step = 0; step < 3; step++) (await model.trainStep(batch)).dispose();
      const path = join(dir, `${kernels}-${gradClip}.safetensors`);
      await model.save(path);
      const { tensors: saved } = await checkpoint.readSafetensors(path);
      const out = {};
      for (const [name, tensor] of Object.entries(saved)) {
        out[name] = await tensor.toTypedArray();
        tensor.dispose();
      }
      return out;
    } finally {
      model.dispose();
    }
  });
  const clip = 1e-3;  // far below these gradients' norm: every step is scaled
  const perTensor = await train('per-tensor', clip);
  assertBitEqual(await train('multi-tensor', clip), perTensor, 'multi-tensor vs per-tensor, clipped');
  const unclipped = await train('per-tensor', 0);
  assert.ok(Object.keys(perTensor).some((name) => perTensor[name].some((x, i) => !Object.is(x, unclipped[name][i]))), 'clipping changed nothing: the test shows nothing');
  // The trainer reads the switch: the fused kernel is refused without CUDA parameters.
  await withEnvironment({ SEQSAM_ADAMW_KERNELS: 'fused' }, () =>
    rejectsCoded(SeqSam.load({ config: tinyConfig, seed: 8, training: { numMasks: 3 } }), 'ERR_ARGUMENT', 'fused'));
  for (const x of Object.values(batch)) x.dispose();
});
