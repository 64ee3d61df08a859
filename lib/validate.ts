// Argument checks shared by the API's entry points. Each throws ERR_ARGUMENT naming the field at fault
// and the value it got, so that a typo or a NaN is refused where it enters rather than deep inside a step.
import { SeqsamError } from './errors.js';
import { valueStats } from './ops.js';
import type { Tensor } from './tensor.js';

/** The largest finite float32: native steps apply rates and limits as float32 scalars. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export interface NumberRule {
  min?: number;
  max?: number;
  // the value must be strictly greater than `min`
  aboveMin?: boolean;
  integer?: boolean;
}

function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return Object.prototype.toString.call(value);
}

/** `value` when it is a finite number obeying `rule`; else ERR_ARGUMENT naming `field`. */
export function checkNumber(field: string, value: unknown, rule: NumberRule = {}): number {
  const { min = -Infinity, max = Infinity, aboveMin = false, integer = false } = rule;
  const ok =
    typeof value === 'number' && Number.isFinite(value) && (aboveMin ? value > min : value >= min) && value <= max && (!integer || Number.isInteger(value));
  if (ok) return value;
  const kind = integer ? 'an integer' : 'a finite number';
  const low = min > -Infinity ? `${aboveMin ? '>' : '≥'} ${min}` : '';
  const high = max < Infinity ? `≤ ${max}` : '';
  const range = [low, high].filter(Boolean).join(' and ');
  throw new SeqsamError('ERR_ARGUMENT', `${field} must be ${kind}${range ? ` ${range}` : ''} (got ${shown(value)})`);
}

/** A learning rate (or any per-step scale): finite, ≥ 0, and representable as a float32. */
export function checkRate(field: string, value: unknown): number {
  return checkNumber(field, value, { min: 0, max: FLOAT32_MAX });
}

/** M, the number of masks generated per prompt: an integer in 1..1024, for prediction and training alike. */
export function checkNumMasks(field: string, value: unknown): number {
  return checkNumber(field, value, { min: 1, max: 1024, integer: true });
}

/** Refuses keys outside `known` (a misspelt option would otherwise be ignored silently). */
export function checkKeys(field: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new SeqsamError('ERR_ARGUMENT', `${field}: unknown option '${key}' (known: ${known.join(', ')})`);
  }
}

/** Refuses anything but a plain object (null, a number, an array). */
export function checkObject(field: string, value: unknown): asserts value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SeqsamError('ERR_ARGUMENT', `${field} must be an object (got ${shown(value)})`);
}

/**
 * Checks that every value of `tensor` is an integer in [min, max] and finite, with one native pass over
 * the tensor on its own device. `what` says in words what is allowed, for the message.
 */
export async function checkTensorValues(field: string, tensor: Tensor, min: number, max: number, what: string): Promise<void> {
  const stats = await valueStats(tensor);
  if (stats.count === 0) return;
  const fault =
    stats.nonFinite > 0
      ? `${stats.nonFinite} NaN or infinite value(s)`
      : stats.nonIntegral > 0
        ? `${stats.nonIntegral} fractional value(s)`
        : stats.min < min || stats.max > max
          ? `values from ${stats.min} to ${stats.max}`
          : null;
  if (fault) throw new SeqsamError('ERR_ARGUMENT', `${field} must hold only ${what}; found ${fault}`);
}
