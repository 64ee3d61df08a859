import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { checkpoint, Tensor, disposeAll } from '../dist/lib/index.js';
import { fixture, fixtureTest, fixturesMissing, tempDir } from './helpers.mjs';

const samPth = fixture('sam-tiny', 'sam.pth');
const samSafetensors = fixture('sam-tiny', 'sam.safetensors');

async function bytesOf(tensor) {
  const data = await tensor.toTypedArray();
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

fixtureTest('sam.pth and sam.safetensors hold identical tensors', async () => {
  const fromPth = await checkpoint.readTorchCheckpoint(samPth);
  const { tensors: fromSafe } = await checkpoint.readSafetensors(samSafetensors);
  assert.deepEqual(Object.keys(fromPth).sort(), Object.keys(fromSafe).sort());
  assert.ok(Object.keys(fromPth).length > 100);
  assert.ok('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix' in fromPth);
  for (const name of Object.keys(fromPth)) {
    assert.deepEqual(fromPth[name].shape, fromSafe[name].shape, name);
    assert.equal(fromPth[name].dtype, fromSafe[name].dtype, name);
    assert.ok((await bytesOf(fromPth[name])).equals(await bytesOf(fromSafe[name])), `${name} differs`);
  }
  disposeAll(fromPth);
  disposeAll(fromSafe);
});

fixtureTest('the safetensors reader agrees with the format read by hand', async () => {
  // Independent parse: 8-byte length, JSON header, raw little-endian bytes.
  const file = readFileSync(samSafetensors);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8'));
  const { tensors } = await checkpoint.readSafetensors(samSafetensors, { names: ['mask_decoder.iou_token.weight'] });
  const info = header['mask_decoder.iou_token.weight'];
  const [begin, end] = info.data_offsets;
  assert.ok((await bytesOf(tensors['mask_decoder.iou_token.weight'])).equals(file.subarray(8 + headerLength + begin, 8 + headerLength + end)));
  assert.deepEqual(tensors['mask_decoder.iou_token.weight'].shape, info.shape);
});

fixtureTest('detectFormat and readCheckpoint go by content, not extension', async (t) => {
  const dir = tempDir(t);
  const disguised = join(dir, 'weights.bin');
  writeFileSync(disguised, readFileSync(samPth));
  assert.equal(await checkpoint.detectFormat(disguised), 'torch');
  assert.equal(await checkpoint.detectFormat(samSafetensors), 'safetensors');
  const { tensors, format } = await checkpoint.readCheckpoint(disguised);
  assert.equal(format, 'torch');
  disposeAll(tensors);
});

const everyDtype = [
  ['float32', () => new Float32Array([1.5, -2, 3e-8, 4])],
  ['float64', () => new Float64Array([Math.E, -1, 0, 1e200])],
  ['float16', () => new Uint16Array([0x3c00, 0x4000, 0xbc00, 0x7c00])],
  ['bfloat16', () => new Uint16Array([0x3f80, 0x4000, 0xbf80, 0x7f80])],
  ['int8', () => new Int8Array([-128, 127, 0, 5])],
  ['uint8', () => new Uint8Array([0, 255, 7, 9])],
  ['int16', () => new Int16Array([-32768, 32767, 0, 5])],
  ['int32', () => new Int32Array([-5, 2147483647, 0, 5])],
  ['int64', () => new BigInt64Array([-(2n ** 62n), 2n ** 62n, 0n, 5n])],
  ['bool', () => new Uint8Array([1, 0, 0, 1])],
];

test('safetensors round trip for every dtype, with metadata, readable by the format spec', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'all.safetensors');
  const tensors = {};
  for (const [dtype, make] of everyDtype) tensors[`t.${dtype}`] = Tensor.from(make(), [2, 2], { dtype });
  tensors.empty = Tensor.from(new Float32Array(0), [0, 3]);
  tensors.scalar = Tensor.from(new Float32Array([7]), []);
  await checkpoint.writeSafetensors(path, tensors, { config: '{"a":1}', version: '1' });
  const { tensors: back, metadata } = await checkpoint.readSafetensors(path);
  assert.deepEqual(metadata, { config: '{"a":1}', version: '1' });
  for (const [name, original] of Object.entries(tensors)) {
    assert.equal(back[name].dtype, original.dtype, name);
    assert.deepEqual(back[name].shape, original.shape, name);
    assert.ok((await bytesOf(back[name])).equals(await bytesOf(original)), name);
  }
  // The header by hand: 8-byte aligned, offsets contiguous, the dtype names of the spec.
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0);
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8'));
  assert.equal(header['t.bfloat16'].dtype, 'BF16');
  assert.equal(header['t.bool'].dtype, 'BOOL');
  assert.equal(file.length, 8 + headerLength + header.scalar.data_offsets[1]);
  disposeAll(tensors);
  disposeAll(back);
  // No temporary file is left behind.
  assert.deepEqual(readdirSync(dir), ['all.safetensors']);
});

function writeLying(dir, name, header, dataBytes) {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([length, json, Buffer.alloc(dataBytes)]));
  return path;
}

test('corrupt, truncated and lying safetensors files are ERR_CHECKPOINT errors naming the problem', async (t) => {
  const dir = tempDir(t);
  const cases = [
    [writeLying(dir, 'beyond.st', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /outside/],
    [writeLying(dir, 'size.st', { a: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }, 16), /needs 16/],
    [writeLying(dir, 'overlap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 16), /overlap/],
    [writeLying(dir, 'dtype.st', { a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16), /dtype/],
    [writeLying(dir, 'shape.st', { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape/],
    [writeLying(dir, 'meta.st', { __metadata__: { a: 1 } }, 0), /__metadata__/],
  ];
  const huge = join(dir, 'huge-header.st');
  const hugeBytes = Buffer.alloc(16);
  hugeBytes.writeBigUInt64LE(1n << 40n);
  writeFileSync(huge, hugeBytes);
  cases.push([huge, /header length/]);
  const notJson = join(dir, 'not-json.st');
  const nj = Buffer.alloc(12);
  nj.writeBigUInt64LE(4n);
  nj.write('{{{{', 8);
  writeFileSync(notJson, nj);
  cases.push([notJson, /JSON/]);
  const tiny = join(dir, 'tiny.st');
  writeFileSync(tiny, Buffer.from([1, 2]));
  cases.push([tiny, /8-byte/]);
  const rejects = (path, pattern) =>
    assert.rejects(checkpoint.readSafetensors(path), (e) => {
      assert.equal(e.code, 'ERR_CHECKPOINT', `${path}: ${e.message}`);
      assert.ok(e.message.includes(path), e.message);
      assert.match(e.message, pattern);
      return true;
    });
  for (const [path, pattern] of cases) await rejects(path, pattern);
  await assert.rejects(checkpoint.readSafetensors(join(dir, 'missing.st')), (e) => e.code === 'ERR_IO' && /missing\.st/.test(e.message));
  await t.test('a real checkpoint cut short: its header now points past the end', { skip: fixturesMissing ?? false }, async () => {
    const cut = join(dir, 'cut.safetensors');
    const real = readFileSync(samSafetensors);
    writeFileSync(cut, real.subarray(0, real.length - 1000));
    await rejects(cut, /outside/);
  });
});

test('corrupt and truncated torch checkpoints are ERR_CHECKPOINT errors', async (t) => {
  const dir = tempDir(t);
  const garbage = join(dir, 'garbage.pth');
  writeFileSync(garbage, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100, 7)]));
  const legacy = join(dir, 'legacy.pth');
  writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a]));
  const empty = join(dir, 'empty.pth');
  writeFileSync(empty, Buffer.alloc(0));
  for (const path of [garbage, empty]) {
    await assert.rejects(checkpoint.readTorchCheckpoint(path), (e) => e.code === 'ERR_CHECKPOINT' && e.message.includes(path));
  }
  await assert.rejects(checkpoint.readCheckpoint(legacy), (e) => e.code === 'ERR_CHECKPOINT' && /legacy/.test(e.message));
  await assert.rejects(checkpoint.readTorchCheckpoint(join(dir, 'nope.pth')), (e) => e.code === 'ERR_IO');
  await t.test('a real checkpoint cut in half', { skip: fixturesMissing ?? false }, async () => {
    const real = readFileSync(samPth);
    const truncated = join(dir, 'truncated.pth');
    writeFileSync(truncated, real.subarray(0, Math.floor(real.length / 2)));
    await assert.rejects(checkpoint.readTorchCheckpoint(truncated), (e) => e.code === 'ERR_CHECKPOINT' && e.message.includes(truncated));
  });
});

fixtureTest('Hugging Face names map onto the official ones, with or without a sam. prefix', () => {
  const keys = JSON.parse(readFileSync(fixture('sam-keys', 'sam_vit_b.keys.json'), 'utf8'));
  const official = Object.keys(keys);
  const hf = official.map(checkpoint.huggingFaceName);
  // Spot checks against transformers' published layout.
  const expected = {
    'image_encoder.blocks.0.norm1.weight': 'vision_encoder.layers.0.layer_norm1.weight',
    'image_encoder.patch_embed.proj.weight': 'vision_encoder.patch_embed.projection.weight',
    'image_encoder.neck.0.weight': 'vision_encoder.neck.conv1.weight',
    'image_encoder.neck.3.bias': 'vision_encoder.neck.layer_norm2.bias',
    'prompt_encoder.mask_downscaling.0.weight': 'prompt_encoder.mask_embed.conv1.weight',
    'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix': 'prompt_encoder.shared_embedding.positional_embedding',
    'prompt_encoder.point_embeddings.2.weight': 'prompt_encoder.point_embed.2.weight',
    'mask_decoder.iou_prediction_head.layers.0.weight': 'mask_decoder.iou_prediction_head.proj_in.weight',
    'mask_decoder.iou_prediction_head.layers.1.weight': 'mask_decoder.iou_prediction_head.layers.0.weight',
    'mask_decoder.iou_prediction_head.layers.2.bias': 'mask_decoder.iou_prediction_head.proj_out.bias',
    'mask_decoder.output_hypernetworks_mlps.3.layers.0.weight': 'mask_decoder.output_hypernetworks_mlps.3.proj_in.weight',
    'mask_decoder.output_hypernetworks_mlps.3.layers.1.weight': 'mask_decoder.output_hypernetworks_mlps.3.layers.0.weight',
    'mask_decoder.output_upscaling.1.weight': 'mask_decoder.upscale_layer_norm.weight',
    'mask_decoder.transformer.layers.1.norm3.weight': 'mask_decoder.transformer.layers.1.layer_norm3.weight',
    'mask_decoder.transformer.norm_final_attn.bias': 'mask_decoder.transformer.layer_norm_final_attn.bias',
  };
  for (const [o, h] of Object.entries(expected)) assert.equal(checkpoint.huggingFaceName(o), h, o);
  assert.equal(new Set(hf).size, official.length, 'renaming must stay one-to-one');
  const mapped = checkpoint.mapCheckpointNames([...hf.map((n) => `sam.${n}`), 'shared_image_embedding.positional_embedding', 'cell.conv_o.weight'], official);
  assert.equal(mapped.naming, 'huggingface');
  assert.equal(mapped.renamed.size, official.length);
  for (const [from, to] of mapped.renamed) assert.equal(`sam.${checkpoint.huggingFaceName(to)}`, from);
  assert.deepEqual(mapped.unmatched, ['cell.conv_o.weight']);
  const plain = checkpoint.mapCheckpointNames(official, official);
  assert.equal(plain.naming, 'official');
  assert.ok([...plain.renamed].every(([a, b]) => a === b));
});
