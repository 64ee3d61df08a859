// Shared test utilities: fixture paths and numeric comparisons.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtures = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
export const fixture = (...parts) => join(fixtures, ...parts);

// ‖a − b‖ / ‖b‖ over two numeric arrays of equal length.
export function relativeL2(actual, expected) {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Number(actual[i]) - Number(expected[i]);
    diff += d * d;
    norm += Number(expected[i]) ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
}

export function tempDir(t, prefix = 'seqsam-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The seeded PRNG the synthetic dataset uses, for reproducible random test inputs.
export { mulberry32 } from '../dist/lib/data/synthetic.js';
