import { fileURLToPath } from 'node:url';

import { DataError } from './errors.js';

/** Accepts a path string or a file: URL. */
export function toPath(p: unknown, what: string): string {
  if (p instanceof URL) {
    if (p.protocol !== 'file:') throw new DataError(`${what}: only file: URLs are supported, got ${p.href}`, 'ERR_ARGUMENT');
    return fileURLToPath(p);
  }
  if (typeof p !== 'string' || p === '') throw new DataError(`${what} must be a non-empty path string or file: URL`, 'ERR_ARGUMENT');
  return p;
}

export function checkIndex(ds: { readonly name: string; readonly length: number }, i: unknown): asserts i is number {
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= ds.length) {
    throw new DataError(`${ds.name}: index ${String(i)} is out of range [0, ${ds.length})`, 'ERR_ARGUMENT');
  }
}

/** Compares strings so that 'case2' < 'case10' and 'rater9' < 'rater10'. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' }) || (a < b ? -1 : a > b ? 1 : 0);
}
