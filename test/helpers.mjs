// Shared test utilities: fixture paths and numeric comparisons.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

// The reference outputs of the official code: SEQSAM_FIXTURES, else ../shared/fixtures beside the checkout.
// They are not part of the repository: where they are absent (a plain clone), the tests that match them
// are skipped and say why, and every other test runs.
export const fixtures = process.env.SEQSAM_FIXTURES
  ? resolve(process.env.SEQSAM_FIXTURES)
  : fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
export const fixture = (...parts) => join(fixtures, ...parts);
export const fixturesMissing = existsSync(join(fixtures, 'README.md'))
  ? null
  : `the reference fixtures are not at ${fixtures} (set SEQSAM_FIXTURES to their folder)`;

// `test` for tests that read the fixtures: skipped, with the reason, where they are absent.
export function fixtureTest(name, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  return test(name, fixturesMissing ? { ...options, skip: fixturesMissing } : options, fn);
}

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

// Asserts that `promise` rejects with a SeqsamError of `code` whose message holds every fragment.
export async function rejectsCoded(promise, code, ...fragments) {
  const { SeqsamError } = await import('../dist/lib/index.js');
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof SeqsamError, `expected a SeqsamError, got ${e?.stack ?? e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.match(e.message, f instanceof RegExp ? f : new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    return true;
  });
}

// The prompt of one case of the official SAM fixture (reference.json → cases).
export function fixturePrompt(c, expected) {
  const prompt = { multimask: c.multimask_output };
  if (c.point_coords) Object.assign(prompt, { points: c.point_coords, pointLabels: c.point_labels });
  if (c.box) prompt.box = c.box;
  if (c.mask_input) prompt.maskInput = expected[c.mask_input];
  return prompt;
}

// Counts the model's encoder runs.
export function spyEmbed(model) {
  const calls = { count: 0 };
  const embed = model.embed.bind(model);
  model.embed = (...args) => {
    calls.count++;
    return embed(...args);
  };
  return calls;
}

// The seeded PRNG the synthetic dataset uses, for reproducible random test inputs.
import { mulberry32 } from '../dist/lib/data/synthetic.js';
import { tinyConfig } from '../dist/lib/model/config.js';
import { Tensor } from '../dist/lib/tensor.js';

export { mulberry32 };

// Runs `run` with the environment variables in `settings` set (a value undefined: unset), then puts them back
// as they were: for the native switches that are read at each call (SEQSAM_ATTENTION, SEQSAM_BF16_WEIGHTS, …).
export async function withEnvironment(settings, run) {
  const previous = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
  const apply = (values) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(settings);
  try {
    return await run();
  } finally {
    apply(previous);
  }
}

// A training batch for the tiny model from cached embeddings: two random embeddings of its grid, a box each and
// `numLabels` random annotator masks at the decoder's low resolution (4× the grid).
export function tinyEmbeddingBatch(seed, numLabels = 3) {
  const [c, grid] = [tinyConfig.prompt_embed_dim, tinyConfig.image_size / tinyConfig.patch_size];
  const random = mulberry32(seed);
  return {
    embeddings: Tensor.from(Float32Array.from({ length: 2 * c * grid * grid }, () => random() - 0.5), [2, c, grid, grid]),
    boxes: Tensor.from(new Float32Array([10, 10, 100, 100, 50, 60, 200, 220]), [2, 4]),
    labels: Tensor.from(Float32Array.from({ length: 2 * numLabels * 16 * grid * grid }, () => (random() < 0.3 ? 1 : 0)), [2, numLabels, 4 * grid, 4 * grid]),
  };
}

// The CLI's entry script.
export const cliBin = fileURLToPath(new URL('../scripts/seqsam.mjs', import.meta.url));

// Runs `seqsam args...` with stdout and stderr piped (not a TTY) and no setup step; resolves
// { code, signal, stdout, stderr }. `onStderr` sees the error stream as it comes (and the child);
// `timeoutMs` kills a child that runs longer (signal 'SIGKILL').
export function runCli(args, { cwd, env, onStderr, timeoutMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, env: { ...process.env, SEQSAM_NO_SETUP: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    const timer = timeoutMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
