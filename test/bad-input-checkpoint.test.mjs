// Broken checkpoints are coded errors that name the fault: truncated or corrupt torch.save archives,
// safetensors headers that lie, pickles with unexpected classes, huge declared sizes, self-reference,
// deep nesting, and a checkpoint made for another preset.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Sam, checkpoint } from '../dist/lib/index.js';
import { fixture, fixtureTest, rejectsCoded, tempDir } from './helpers.mjs';
import { Pickle, stateDictPickle, torchArchive } from './torch-archive.mjs';

const samPth = fixture('sam-tiny', 'sam.pth');

const floats = (n) => new Float32Array(n).map((_, i) => i);

test('the hand-made archive reads back (the cases below differ from it in one fault each)', async (t) => {
  const path = join(tempDir(t), 'ok.pth');
  writeFileSync(path, torchArchive(stateDictPickle({ w: { numel: 6, size: [2, 3], stride: [3, 1] } }), { 0: floats(6) }));
  const tensors = await checkpoint.readTorchCheckpoint(path);
  assert.deepEqual(tensors.w.shape, [2, 3]);
  assert.deepEqual([...(await tensors.w.toTypedArray())], [0, 1, 2, 3, 4, 5]);
  tensors.w.dispose();
});

fixtureTest('truncated and corrupt torch.save archives are ERR_CHECKPOINT', async (t) => {
  const dir = tempDir(t);
  const bytes = readFileSync(samPth);
  for (const cut of [0, 3, 100, bytes.length >> 1, bytes.length - 22, bytes.length - 1]) {
    const path = join(dir, `cut-${cut}.pth`);
    writeFileSync(path, bytes.subarray(0, cut));
    await rejectsCoded(checkpoint.readCheckpoint(path), 'ERR_CHECKPOINT', path);
  }
  // The pickle program overwritten, and the zip's central directory overwritten. (Tensor bytes carry
  // no checksum that LibTorch verifies, as in PyTorch: those are caught only by truncation checks.)
  const pickleAt = bytes.indexOf('sam/data.pkl') + 'sam/data.pkl'.length;
  const centralAt = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bytes.indexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06])));
  for (const [name, from, to] of [['pickle', pickleAt + 64, pickleAt + 200], ['directory', centralAt, centralAt + 46]]) {
    const corrupt = Buffer.from(bytes);
    corrupt.fill(0xff, from, to);
    const path = join(dir, `corrupt-${name}.pth`);
    writeFileSync(path, corrupt);
    await rejectsCoded(checkpoint.readCheckpoint(path), 'ERR_CHECKPOINT', path);
  }
});

test('safetensors whose header lies are ERR_CHECKPOINT naming the field', async (t) => {
  const dir = tempDir(t);
  const write = (name, header, dataBytes = 24, headerLength) => {
    const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(headerLength ?? json.length));
    const path = join(dir, name);
    writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
    return path;
  };
  const w = (over) => ({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24], ...over } });
  await rejectsCoded(checkpoint.readSafetensors(write('len.safetensors', w(), 24, 2n ** 63n)), 'ERR_CHECKPOINT', 'header length');
  await rejectsCoded(checkpoint.readSafetensors(write('past.safetensors', w({ data_offsets: [0, 4000] }))), 'ERR_CHECKPOINT', "tensor 'w'", 'data_offsets');
  await rejectsCoded(checkpoint.readSafetensors(write('shape.safetensors', w({ shape: [1000000, 1000000] }))), 'ERR_CHECKPOINT', "tensor 'w'", 'needs');
  await rejectsCoded(checkpoint.readSafetensors(write('neg.safetensors', w({ shape: [-2, 3] }))), 'ERR_CHECKPOINT', 'shape');
  // No element, but a product of the other dimensions far past 2^64.
  const empty = { w: { dtype: 'F32', shape: [2 ** 53 - 1, 2 ** 53 - 1, 0], data_offsets: [0, 0] } };
  await rejectsCoded(checkpoint.readSafetensors(write('empty-huge.safetensors', empty, 0)), 'ERR_CHECKPOINT', 'too large');
  await rejectsCoded(checkpoint.readSafetensors(write('dtype.safetensors', w({ dtype: 'C64' }))), 'ERR_CHECKPOINT', 'dtype');
  await rejectsCoded(checkpoint.readSafetensors(write('json.safetensors', '{"w": {"dtype": "F32",')), 'ERR_CHECKPOINT', 'JSON');
  const overlap = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
  await rejectsCoded(checkpoint.readSafetensors(write('overlap.safetensors', overlap)), 'ERR_CHECKPOINT', 'overlap');
});

test('pickles with unexpected classes are refused without running anything', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'ran');
  // os.system("touch <marker>") as the whole pickle: a plain unpickler would run it.
  const evil = new Pickle().global('os', 'system').op('(').str(`touch ${marker}`).op('t', 'R');
  const path = join(dir, 'evil.pth');
  writeFileSync(path, torchArchive(evil));
  await rejectsCoded(checkpoint.readTorchCheckpoint(path), 'ERR_CHECKPOINT', path, 'os.system', 'not a state dict');
  assert.ok(!existsSync(marker), 'nothing was executed');

  // The same object next to real tensors is left out; the tensors load.
  const mixed = stateDictPickle({ w: { numel: 2, size: [2], stride: [1] } });
  mixed.str('evil').global('os', 'system').op('(').str(`touch ${marker}`).op('t', 'R', 's');
  const mixedPath = join(dir, 'mixed.pth');
  writeFileSync(mixedPath, torchArchive(mixed, { 0: floats(2) }));
  const tensors = await checkpoint.readTorchCheckpoint(mixedPath);
  assert.deepEqual(Object.keys(tensors), ['w']);
  tensors.w.dispose();
  assert.ok(!existsSync(marker));

  const complex = join(dir, 'complex.pth');
  writeFileSync(complex, torchArchive(stateDictPickle({ w: { storage: 'ComplexFloatStorage', numel: 2, size: [2], stride: [1] } }), { 0: floats(4) }));
  await rejectsCoded(checkpoint.readTorchCheckpoint(complex), 'ERR_CHECKPOINT', 'unsupported storage type torch.ComplexFloatStorage');

  const opcode = join(dir, 'opcode.pth');
  writeFileSync(opcode, torchArchive(Uint8Array.from([0x80, 0x02, 0xff, 0x2e])));
  await rejectsCoded(checkpoint.readTorchCheckpoint(opcode), 'ERR_CHECKPOINT', 'unsupported pickle opcode 0xff');
});

test('huge or inconsistent declared sizes are refused before anything is allocated', async (t) => {
  const dir = tempDir(t);
  const cases = [
    ['numel', { numel: 2 ** 40, size: [2], stride: [1] }, /storage '0' holds 8 bytes, expected/],
    ['view', { numel: 2, size: [1000000, 1000000], stride: [1000000, 1] }, /reaches past its storage/],
    ['overflow', { numel: 2, size: [2n ** 62n, 4], stride: [2n ** 62n, 1] }, /overflow/],
    ['negative size', { numel: 2, size: [-1], stride: [1] }, /negative tensor size/],
    ['negative offset', { numel: 2, offset: -4, size: [2], stride: [1] }, /storage offset/],
    ['dimensions', { numel: 2, size: Array(100).fill(1), stride: Array(100).fill(1) }, /100 dimensions/],
  ];
  for (const [name, spec, message] of cases) {
    const path = join(dir, `${name}.pth`);
    writeFileSync(path, torchArchive(stateDictPickle({ w: spec }), { 0: floats(2) }));
    await rejectsCoded(checkpoint.readTorchCheckpoint(path), 'ERR_CHECKPOINT', path, message);
  }
  const missing = join(dir, 'missing-storage.pth');
  writeFileSync(missing, torchArchive(stateDictPickle({ w: { key: '7', numel: 2, size: [2], stride: [1] } }), { 0: floats(2) }));
  await rejectsCoded(checkpoint.readTorchCheckpoint(missing), 'ERR_CHECKPOINT', "storage '7' is missing");
});

test('a dict that contains itself and absurd nesting are refused, not recursed into', async (t) => {
  const dir = tempDir(t);
  // d = {}; d['a'] = d
  const cyclic = new Pickle().op('}', 'q', 0).str('a').op('h', 0, 's');
  const cyclicPath = join(dir, 'cyclic.pth');
  writeFileSync(cyclicPath, torchArchive(cyclic));
  await rejectsCoded(checkpoint.readTorchCheckpoint(cyclicPath), 'ERR_CHECKPOINT', cyclicPath, /refers to itself|nests deeper/);
  // [[[[...]]]] a million levels deep: freeing it recursively would overflow the stack.
  const depth = 1_000_000;
  const deep = Buffer.alloc(2 + depth * 2 + 1);
  deep.set([0x80, 0x02]);
  deep.fill(']', 2, 2 + depth);
  deep.fill('a', 2 + depth, 2 + depth * 2 - 1);
  deep[deep.length - 2] = 'a'.charCodeAt(0);
  deep[deep.length - 1] = '.'.charCodeAt(0);
  const deepPath = join(dir, 'deep.pth');
  writeFileSync(deepPath, torchArchive(deep));
  await rejectsCoded(checkpoint.readTorchCheckpoint(deepPath), 'ERR_CHECKPOINT', /nests deeper than \d+ levels/);
  // Tuples nest the same way: (((...),),)
  const tuples = Buffer.concat([Buffer.from([0x80, 0x02, 0x29]), Buffer.alloc(depth, 0x85), Buffer.from('.')]);
  const tuplePath = join(dir, 'tuples.pth');
  writeFileSync(tuplePath, torchArchive(tuples));
  await rejectsCoded(checkpoint.readTorchCheckpoint(tuplePath), 'ERR_CHECKPOINT', /nests deeper/);
});

fixtureTest('a checkpoint for another preset is ERR_CHECKPOINT naming the architecture it holds, briefly', async () => {
  const { encoder } = JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8')).config;
  await rejectsCoded(
    Sam.load({ preset: 'vit_b', checkpoint: samPth }),
    'ERR_CHECKPOINT',
    samPth,
    'this checkpoint is not a vit_b',
    `depth ${encoder.depth} and width ${encoder.embed_dim}`,
    /expects e\.g\. image_encoder\./,
  );
  // A few examples, not the hundreds of keys a ViT-B has beyond the tiny model.
  await assert.rejects(Sam.load({ preset: 'vit_b', checkpoint: samPth }), (e) => e.message.length < 1000);
});
