import assert from 'node:assert/strict';
import test from 'node:test';

import { Tensor, SeqsamError, tensorStats } from '../dist/lib/index.js';

const cases = [
  ['float32', new Float32Array([1.5, -2, 3.25, 0, 1e-7, 6])],
  ['float64', new Float64Array([Math.PI, -1e300, 0, 1, 2, 3])],
  ['int32', new Int32Array([-2147483648, 2147483647, 0, 1, 2, 3])],
  ['int16', new Int16Array([-32768, 32767, 1, 2, 3, 4])],
  ['int8', new Int8Array([-128, 127, 0, 1, 2, 3])],
  ['uint8', new Uint8Array([0, 255, 1, 2, 3, 4])],
  ['int64', new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, 2n, 3n])],
  ['float16', new Uint16Array([0x3c00, 0xc000, 0x7bff, 0, 0x0001, 0x8000])],
];

for (const [dtype, data] of cases) {
  test(`Tensor.from / toTypedArray round trip: ${dtype}`, async () => {
    const t = Tensor.from(data, [2, 3]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, dtype);
    assert.equal(t.device, 'cpu');
    assert.equal(t.byteLength, data.byteLength);
    const back = await t.toTypedArray();
    assert.equal(back.constructor, data.constructor);
    assert.deepEqual(Array.from(back), Array.from(data));
    t.dispose();
  });
}

test('bool and bfloat16 reinterpret their typed arrays', async () => {
  const b = Tensor.from(new Uint8Array([1, 0, 1]), [3], { dtype: 'bool' });
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(Array.from(await b.toTypedArray()), [1, 0, 1]);
  const h = Tensor.from(new Uint16Array([0x3f80, 0x4000]), [2], { dtype: 'bfloat16' });
  assert.equal(h.dtype, 'bfloat16');
  const f = await h.to({ dtype: 'float32' });
  assert.deepEqual(Array.from(await f.toTypedArray()), [1, 2]);
  for (const t of [b, h, f]) t.dispose();
});

test('the data is copied in: later writes to the JS array do not reach the tensor', async () => {
  const data = new Float32Array([1, 2, 3, 4]);
  const t = Tensor.from(data.subarray(1), [3]);
  data[1] = 99;
  assert.deepEqual(Array.from(await t.toTypedArray()), [2, 3, 4]);
  t.dispose();
});

test('shape mismatches and bad shapes are ERR_SHAPE errors naming the shape', () => {
  assert.throws(() => Tensor.from(new Float32Array(5), [2, 3]), (e) => e instanceof SeqsamError && e.code === 'ERR_SHAPE' && /\[2, 3\]/.test(e.message) && /5/.test(e.message));
  assert.throws(() => Tensor.from(new Float32Array(2), [-1, -2]), (e) => e.code === 'ERR_SHAPE');
  assert.throws(() => Tensor.from(new Float32Array(2), [2.5]), (e) => e.code === 'ERR_SHAPE');
  assert.throws(() => Tensor.from([1, 2], [2]), (e) => e.code === 'ERR_ARGUMENT');
});

test('an unknown or missing device is ERR_DEVICE', () => {
  assert.throws(() => Tensor.from(new Float32Array(1), [1], { device: 'tpu' }), (e) => e.code === 'ERR_DEVICE' && /tpu/.test(e.message));
  // On a CPU-only build CUDA is missing; on a GPU build cuda:99 is.
  assert.throws(() => Tensor.from(new Float32Array(1), [1], { device: 'cuda:99' }), (e) => e.code === 'ERR_DEVICE');
});

test('use after dispose is ERR_DISPOSED; dispose is idempotent; Symbol.dispose disposes', async () => {
  const t = Tensor.from(new Float32Array([1, 2]), [2]);
  t.dispose();
  t.dispose();
  assert.equal(t.disposed, true);
  assert.throws(() => t.shape, (e) => e.code === 'ERR_DISPOSED');
  await assert.rejects(() => t.toTypedArray(), (e) => e.code === 'ERR_DISPOSED');
  // What `using t = ...` calls at the end of its block (TypeScript 5.2+, Node 22+ syntax).
  const scoped = Tensor.from(new Float32Array([1]), [1]);
  assert.equal(scoped.disposed, false);
  scoped[Symbol.dispose]();
  assert.equal(scoped.disposed, true);
});

test('the stack of a native error points at the caller', async () => {
  const t = Tensor.from(new Float32Array([1]), [1]);
  t.handle.dispose(); // native side gone, JS wrapper unaware: the native call rejects
  await assert.rejects(
    async function callerFrame() {
      await t.toTypedArray();
    },
    (e) => e.code === 'ERR_DISPOSED' && /tensor\.test\.mjs/.test(e.stack),
  );
});

test('forgotten tensors are freed by the finalizer', { skip: typeof globalThis.gc !== 'function' && 'run with --expose-gc' }, async () => {
  const source = new Float32Array(1 << 20);
  for (let i = 0; i < 5; i++) globalThis.gc();
  const before = tensorStats();
  let kept = [];
  for (let i = 0; i < 20; i++) kept.push(Tensor.from(source, [1 << 20]));
  const grown = tensorStats();
  assert.equal(grown.live - before.live, 20);
  assert.equal(grown.bytes - before.bytes, 20 * source.byteLength);
  kept[0].dispose();
  assert.equal(tensorStats().live - before.live, 19);
  kept = null;
  for (let i = 0; i < 10 && tensorStats().live > before.live; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(tensorStats(), before);
});
