// Learning-rate schedules: pure functions of the 0-based optimizer step (the step about to be taken),
// as Hugging Face's schedulers evaluate them (the reference trains with HF Trainer: linear decay, no
// warmup, lr 1e-4).
import { SeqsamError } from '../errors.js';

/** A learning rate as a function of the 0-based optimizer step (the step about to be taken). */
export type Schedule = (step: number) => number;

/**
 * A schedule by name, made into a {@link Schedule} once the run's steps are known ({@link createSchedule}):
 * - `lr`: the peak rate (finite, ≥ 0);
 * - `warmupSteps`: steps of linear warmup from 0 (default 0); or `warmupRatio`, a fraction of the run's
 *   steps, rounded up (default 0); `warmupSteps` wins when both are given;
 * - `constant`: lr after the warmup; `linear`: decays linearly to 0 at the last step (HF Trainer's
 *   default); `cosine`: a cosine from lr down to `minLr` (default 0) over `cycles` periods (default 0.5:
 *   one half-cosine).
 */
export type ScheduleSpec =
  | { type: 'constant'; lr: number; warmupSteps?: number; warmupRatio?: number }
  | { type: 'linear'; lr: number; warmupSteps?: number; warmupRatio?: number }
  | { type: 'cosine'; lr: number; warmupSteps?: number; warmupRatio?: number; minLr?: number; cycles?: number };

function check(name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new SeqsamError('ERR_ARGUMENT', `schedule: ${name} must be a finite number ≥ ${min} (got ${String(v)})`);
  return v;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0) throw new SeqsamError('ERR_ARGUMENT', `schedule: step must be a non-negative integer (got ${step})`);
}

/** `lr` at every step, after a linear warmup of `warmupSteps` (default 0). */
export function constant(lr: number, options: { warmupSteps?: number } = {}): Schedule {
  check('lr', lr);
  const warmup = check('warmupSteps', options.warmupSteps ?? 0);
  return (step) => {
    checkStep(step);
    return step < warmup ? (lr * step) / Math.max(1, warmup) : lr;
  };
}

/**
 * HF get_linear_schedule_with_warmup: lr·s/w during warmup (0 at step 0), then
 * lr·max(0, (total − s) / max(1, total − w)). Without warmup: lr·(1 − s/total).
 */
export function linear(lr: number, totalSteps: number, options: { warmupSteps?: number } = {}): Schedule {
  check('lr', lr);
  const total = check('totalSteps', totalSteps, 1);
  const warmup = check('warmupSteps', options.warmupSteps ?? 0);
  return (step) => {
    checkStep(step);
    if (step < warmup) return (lr * step) / Math.max(1, warmup);
    return lr * Math.max(0, (total - step) / Math.max(1, total - warmup));
  };
}

/**
 * HF get_cosine_schedule_with_warmup (cycles 0.5, the default, = one half-cosine down to minLr at the last
 * step): linear warmup, then minLr + (lr − minLr)·½(1 + cos(2π·cycles·p)), p = (s − w) / max(1, total − w),
 * floored at minLr (default 0).
 */
export function cosine(lr: number, totalSteps: number, options: { warmupSteps?: number; minLr?: number; cycles?: number } = {}): Schedule {
  check('lr', lr);
  const total = check('totalSteps', totalSteps, 1);
  const warmup = check('warmupSteps', options.warmupSteps ?? 0);
  const minLr = check('minLr', options.minLr ?? 0);
  const cycles = check('cycles', options.cycles ?? 0.5);
  return (step) => {
    checkStep(step);
    if (step < warmup) return (lr * step) / Math.max(1, warmup);
    const progress = (step - warmup) / Math.max(1, total - warmup);
    const factor = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
    return minLr + (lr - minLr) * factor;
  };
}

/**
 * A Schedule from a spec, once the number of steps is known (warmupRatio: a fraction of totalSteps,
 * rounded up as HF does). A function is returned as it is.
 */
export function createSchedule(spec: ScheduleSpec | Schedule, totalSteps: number): Schedule {
  if (typeof spec === 'function') return spec;
  if (!spec || typeof spec !== 'object') throw new SeqsamError('ERR_ARGUMENT', 'schedule must be a function (step → lr) or { type, lr, ... }');
  const warmupSteps = spec.warmupSteps ?? Math.ceil(check('warmupRatio', spec.warmupRatio ?? 0) * totalSteps);
  switch (spec.type) {
    case 'constant':
      return constant(spec.lr, { warmupSteps });
    case 'linear':
      return linear(spec.lr, totalSteps, { warmupSteps });
    case 'cosine':
      return cosine(spec.lr, totalSteps, { warmupSteps, minLr: spec.minLr, cycles: spec.cycles });
    default:
      throw new SeqsamError('ERR_ARGUMENT', `schedule: type must be 'constant', 'linear' or 'cosine' (got ${String((spec as { type?: unknown }).type)})`);
  }
}

/** A JSON-able description, for logs and checkpoint metadata (a function schedule is 'custom'). */
export function describeSchedule(spec: ScheduleSpec | Schedule): string {
  return typeof spec === 'function' ? 'custom' : JSON.stringify(spec);
}
