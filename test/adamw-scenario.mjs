// A short AdamW run shared by the AdamW tests: parameters named so that the decay exemption picks some,
// ten steps with a learning rate that changes every step (values float32 cannot hold exactly), a step in
// the middle whose gradients hold NaN and infinity and is gated off, and a parameter without a gradient
// in some steps.
import assert from 'node:assert/strict';

import { AdamWOptimizer } from '../dist/lib/adamw-ops.js';
import { Tensor } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

export const u = 2 ** -24; // float32's unit roundoff
export const STEPS = 10;
export const GATED = 4; // this step's gradients are not finite: gated off, then retracted
export const WEIGHT_DECAY = 0.05;

// Sizes that are not multiples of any vector width, so the vectorised loops and their tails both run.
export const PARAMETERS = [
  ['transformer.layers.0.norm1.weight', [37]], // exempt under 'bias-and-norm' (a transformer LayerNorm)
  ['transformer.layers.0.mlp.lin1.bias', [19]], // exempt (a bias)
  ['transformer.layers.0.mlp.lin1.weight', [19, 37]],
  ['output_upscaling.1.weight', [9]], // LayerNorm2d: decays
  ['cell.gru.weight_hh', [3, 5, 7]],
  ['iou_prediction_head.layers.2.weight', [4, 33]], // no gradient in steps 2 and 7
];
const NO_GRADIENT = { 'iou_prediction_head.layers.2.weight': [2, 7] };

export const lrAt = (s) => 2e-2 * (0.3 + (0.7 * (s + 1)) / STEPS) * (1 + 0.1 * Math.sin(s + 1));

export const numel = (shape) => shape.reduce((a, b) => a * b, 1);

export function initialParams(seed = 1) {
  const random = mulberry32(seed);
  return Object.fromEntries(PARAMETERS.map(([name, shape]) => [name, Float32Array.from({ length: numel(shape) }, () => (random() - 0.5) * 2)]));
}

// Gradients of step s: mostly O(1), a few large, and NaN / ±infinity in the gated step.
export function gradientsAt(s) {
  const random = mulberry32(100 + s);
  const out = {};
  for (const [name, shape] of PARAMETERS) {
    if (NO_GRADIENT[name]?.includes(s)) continue;
    const g = Float32Array.from({ length: numel(shape) }, () => (random() - 0.5) * (random() < 0.05 ? 40 : 2));
    if (s === GATED) g[shape.length] = [NaN, Infinity, -Infinity][shape.length % 3];
    out[name] = g;
  }
  return out;
}

export function tensors(named, shapes, device = 'cpu') {
  return Object.fromEntries(Object.entries(named).map(([name, data]) => [name, Tensor.from(data, shapes[name], { device })]));
}

export const shapes = Object.fromEntries(PARAMETERS);

export async function read(named) {
  const out = {};
  for (const [name, t] of Object.entries(named)) {
    out[name] = await t.toTypedArray();
    t.dispose();
  }
  return out;
}

export async function snapshot(opt) {
  return { params: await read(opt.params()), state: await read(opt.state()) };
}

export function assertBitEqual(actual, expected, what) {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${what}: names`);
  for (const name of Object.keys(expected)) {
    const [a, e] = [actual[name], expected[name]];
    assert.equal(a.length, e.length, `${what}: ${name} length`);
    for (let i = 0; i < e.length; i++) {
      if (!Object.is(a[i], e[i])) assert.fail(`${what}: ${name}[${i}] = ${a[i]}, expected ${e[i]} bit for bit`);
    }
  }
}

// An optimizer over `params` (named arrays) with `options`, in capturable mode or not, holding the gradients
// `grads` (named arrays) for its next step; its own copies of both, the inputs' tensors freed.
export function optimizerWithGradients(params, grads, options, { capturable = false } = {}) {
  const paramTensors = tensors(params, shapes);
  const opt = new AdamWOptimizer(paramTensors, options);
  Object.values(paramTensors).forEach((t) => t.dispose());
  opt.setCapturable(capturable);
  const gradTensors = tensors(grads, shapes);
  opt.setGradients(gradTensors);
  Object.values(gradTensors).forEach((t) => t.dispose());
  return opt;
}

// Runs the scenario. `capturable`: device scalars; `kernels`: how the update is issued; `flag`: pass the
// gate as a tensor (true) on every step, else only on the gated one. `from` ({ params, state, step }) resumes
// a run stopped before step `step`; `until` stops before that step. Returns the final parameters and
// state, and the parameters after every step.
export async function runScenario({ capturable = false, kernels = 'auto', device = 'cpu', flag = true, decayExempt = 'bias-and-norm', from, until = STEPS } = {}) {
  const start = from ?? { params: initialParams(), step: 0 };
  const params = tensors(start.params, shapes, device);
  const opt = new AdamWOptimizer(params, { lr: lrAt(0), weightDecay: WEIGHT_DECAY, decayExempt });
  Object.values(params).forEach((t) => t.dispose());
  opt.setKernels(kernels);
  if (start.state) {
    const stateShapes = Object.fromEntries(Object.keys(start.state).map((n) => [n, n === 'step' ? [1] : shapes[n.replace(/\.exp_avg(_sq)?$/, '')]]));
    const state = tensors(start.state, stateShapes, device);
    opt.setCapturable(capturable); // before loadState: it must set the device count too
    opt.loadState(state);
    Object.values(state).forEach((t) => t.dispose());
  } else {
    opt.setCapturable(capturable);
  }
  const trajectory = [(await snapshot(opt)).params];
  for (let s = start.step; s < until; s++) {
    opt.setLr(lrAt(s));
    opt.stageScalars(); // nothing to do in host mode
    const grads = tensors(gradientsAt(s), shapes, device);
    opt.setGradients(grads);
    Object.values(grads).forEach((t) => t.dispose());
    if (s === GATED) {
      const before = await snapshot(opt);
      const steps = opt.steps;
      opt.step(false);
      assert.equal(opt.steps, steps + 1, 'a gated-off step is counted on the host until retracted');
      const after = await snapshot(opt);
      assertBitEqual(after.params, before.params, `gated step ${s}: parameters`);
      assertBitEqual(after.state, { ...before.state, step: after.state.step }, `gated step ${s}: moments`);
      opt.retractStep();
    } else {
      opt.step(flag ? true : undefined);
    }
    if (capturable) assert.equal(opt.deviceStep, opt.steps, `step ${s}: device and host step counts agree`);
    trajectory.push((await snapshot(opt)).params);
  }
  const final = await snapshot(opt);
  const kernelsUsed = opt.kernels;
  opt.dispose();
  return { ...final, trajectory, kernelsUsed };
}

// The scenario in float64, as torch.optim.AdamW defines the step, with a first-order bound per weight on how
// far a float32 run may be from it. Each float32 operation rounds with relative error ≤ u, and so does each
// constant's float32 image; per step t (the count of applied steps) and weight, with exact values from here:
//   m ← m + (1−β1)(g − m): em ← β1·em + 4u(|m_prev| + |g|)   (3 roundings and the weight's image)
//   v ← β2·v + (1−β2)g²:   ev ← β2·ev + 5u(v_prev + g²)      (4 roundings and two images)
//   r = √v:                er ≤ min(ev/r, √ev) + u(r + er)   (|√(v+e) − √v| ≤ min(e/√v, √e))
//   D = r/√bias2 + ε:      eD ≤ er/√bias2 + 4u·D             (the bias term's image, the quotient (on a GPU a
//                                                            reciprocal and a product: 2u), the sum)
//   B = s·m/D, s = lr/bias1 (s's image and, capturable, the rate's: 3u; product and quotient: 2u):
//                          eB ≤ (s·em + |B|·eD)/(D − eD) + 5u|B|
//   p ← p·(1 − lr·wd) − B: ep ← ep + 3u|p_prev| + eB + u|p|  (the decay's image 2u, the product u; the sum)
// A fused kernel that keeps some of these in float64 rounds less, never more.
export function reference({ decayExempt = 'bias-and-norm' } = {}) {
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  const exempt = (name) => decayExempt === 'bias-and-norm' && (/\.bias$/.test(name) || /\.norm\d\.weight$/.test(name));
  const p = {}, m = {}, v = {}, ep = {}, em = {}, ev = {};
  for (const [name, data] of Object.entries(initialParams())) {
    p[name] = Float64Array.from(data);
    for (const x of [m, v, ep, em, ev]) x[name] = new Float64Array(data.length);
  }
  let t = 0;
  for (let s = 0; s < STEPS; s++) {
    if (s === GATED) continue;
    t++;
    const lr = lrAt(s);
    const bias1 = 1 - beta1 ** t;
    const sqrtBias2 = Math.sqrt(1 - beta2 ** t);
    const stepSize = lr / bias1;
    const grads = gradientsAt(s);
    for (const name of Object.keys(p)) {
      const g = grads[name];
      if (!g) continue;
      const decay = exempt(name) ? 1 : 1 - lr * WEIGHT_DECAY;
      for (let i = 0; i < g.length; i++) {
        const [m0, v0, p0] = [m[name][i], v[name][i], p[name][i]];
        m[name][i] = m0 + (1 - beta1) * (g[i] - m0);
        v[name][i] = beta2 * v0 + (1 - beta2) * g[i] * g[i];
        em[name][i] = beta1 * em[name][i] + 4 * u * (Math.abs(m0) + Math.abs(g[i]));
        ev[name][i] = beta2 * ev[name][i] + 5 * u * (v0 + g[i] * g[i]);
        const r = Math.sqrt(v[name][i]);
        const er0 = r > 0 ? Math.min(ev[name][i] / r, Math.sqrt(ev[name][i])) : Math.sqrt(ev[name][i]);
        const er = er0 + u * (r + er0);
        const D = r / sqrtBias2 + eps;
        const eD = er / sqrtBias2 + 4 * u * D;
        const B = (stepSize * m[name][i]) / D;
        const eB = (stepSize * em[name][i] + Math.abs(B) * eD) / Math.max(D - eD, Number.MIN_VALUE) + 5 * u * Math.abs(B);
        p[name][i] = p0 * decay - B;
        ep[name][i] += 3 * u * Math.abs(p0) + eB + u * Math.abs(p[name][i]);
      }
    }
  }
  return { params: p, bound: ep };
}

// Every weight of `actual` within its bound of the float64 run; returns the largest difference as a
// fraction of its bound.
export function assertNearReference(actual, ref, what) {
  let worst = 0;
  for (const name of Object.keys(ref.params)) {
    for (let i = 0; i < ref.params[name].length; i++) {
      const [a, e, bound] = [actual[name][i], ref.params[name][i], ref.bound[name][i]];
      const d = Math.abs(a - e);
      if (!(d <= bound)) assert.fail(`${what}: ${name}[${i}] = ${a}, float64 AdamW gives ${e} (bound ${bound})`);
      if (bound > 0) worst = Math.max(worst, d / bound);
    }
  }
  return worst;
}
