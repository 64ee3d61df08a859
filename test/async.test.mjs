import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';

import { checkpoint, Tensor, disposeAll } from '../dist/lib/index.js';
import { tempDir } from './helpers.mjs';

// Counts timer ticks while `work` runs: a native call that blocked the JS thread would allow none.
async function ticksDuring(work) {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { ticks, ms: performance.now() - started };
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
    // At least one tick per 20 ms of native work (timers run every ~1 ms when the loop is free).
    assert.ok(r.ticks >= Math.floor(r.ms / 20), `${name}: ${r.ticks} ticks in ${r.ms.toFixed(0)} ms`);
  }
  assert.ok(write.ms > 20, `write took ${write.ms} ms: too short to show anything`);
  disposeAll(tensors);
  disposeAll(back);
});
