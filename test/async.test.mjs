import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';

import { checkpoint, Tensor, disposeAll } from '../dist/lib/index.js';
import { tempDir } from './helpers.mjs';

// Timer ticks while `work` runs, and the longest wait between two (the start and the end count as ticks).
// A native call that blocked the JS thread would leave one wait as long as the call itself.
async function ticksDuring(work) {
  // Garbage left by the test's own 64 MB arrays is collected now rather than during the call.
  globalThis.gc?.();
  let ticks = 0;
  const started = performance.now();
  let last = started;
  let longestGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    ticks++;
  }, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const ended = performance.now();
  longestGap = Math.max(longestGap, ended - last);
  return { ticks, ms: ended - started, longestGap };
}

test('the event loop keeps ticking during long native calls', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'big.safetensors');
  const source = new Float32Array(16 << 20); // 64 MB per tensor
  source.fill(1.25);
  const tensors = {};
  for (let i = 0; i < 4; i++) tensors[`t${i}`] = Tensor.from(source, [source.length]);
  const write = await ticksDuring(() => checkpoint.writeSafetensors(path, tensors));
  let back;
  const read = await ticksDuring(async () => {
    back = (await checkpoint.readSafetensors(path)).tensors;
  });
  const copy = await ticksDuring(() => back.t3.toTypedArray());
  for (const [name, r] of Object.entries({ write, read, copy })) {
    // A blocked loop waits through the whole call (all of it but a timer period, from the tick before the
    // call to its end); a free one ticks every ~1 ms, save for the JS thread's own share: scheduling on a
    // loaded machine and a garbage collection that a 64 MB external buffer can set off (tens of ms each).
    // Three quarters of the call lies between the two, so a call that blocked the loop still fails.
    if (r.ms < 40) continue; // too short to tell a blocked loop from scheduling
    assert.ok(r.longestGap < (3 * r.ms) / 4, `${name}: the loop waited ${r.longestGap.toFixed(0)} ms of ${r.ms.toFixed(0)} ms (${r.ticks} ticks)`);
  }
  assert.ok(write.ms >= 40, `write took ${write.ms} ms: too short to show anything`);
  disposeAll(tensors);
  disposeAll(back);
});
