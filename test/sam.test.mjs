import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';

import { ImageEmbedding, Sam, SeqsamError, Tensor, checkpoint, disposeAll, tinyConfig } from '../dist/lib/index.js';
import { fixture, fixturePrompt, fixtureTest, fixturesMissing, relativeL2 } from './helpers.mjs';

// The reference fixtures, where present; the tests that match them are skipped otherwise.
const reference = fixturesMissing ? null : JSON.parse(readFileSync(fixture('sam-tiny', 'reference.json'), 'utf8'));
const expected = fixturesMissing ? null : (await checkpoint.readSafetensors(fixture('sam-tiny', 'reference.safetensors'))).tensors;
const values = async (t) => Array.from(await t.toTypedArray());

async function assertClose(actual, expectedTensor, name, tolerance = 1e-4) {
  assert.deepEqual(actual.shape, expectedTensor.shape, `${name}: shape`);
  const error = relativeL2(await values(actual), await values(expectedTensor));
  assert.ok(error < tolerance, `${name}: relative L2 error ${error.toExponential(2)} ≥ ${tolerance}`);
}

async function rawImage() {
  const data = await expected.image_hwc_u8.toTypedArray();
  const [height, width] = expected.image_hwc_u8.shape;
  return { data, width, height, channels: 3 };
}

fixtureTest('every reference tensor of the official SAM is matched (sam.pth and sam.safetensors)', async () => {
  for (const file of ['sam.pth', 'sam.safetensors']) {
    const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', file) });
    const embedding = await sam.embed(await rawImage());
    assert.deepEqual(embedding.originalSize, reference.image_size_hw);
    assert.deepEqual(embedding.inputSize, reference.image_size_hw);
    await assertClose(embedding.tensor, expected.image_embeddings, `${file} image_embeddings`);
    for (const c of reference.cases) {
      const prompt = fixturePrompt(c, expected);
      const out = await sam.predict(embedding, prompt);
      await assertClose(out.lowResLogits, expected[`${c.name}.low_res_logits`], `${c.name}.low_res_logits`);
      await assertClose(out.iou, expected[`${c.name}.iou`], `${c.name}.iou`);
      // The reference's masks_logits were post-processed with input_size = the padded 256×256 (the
      // padded tensor's shape), so nothing was cropped; the same call here reproduces them exactly.
      const asReference = new ImageEmbedding(embedding.tensor, embedding.originalSize, [256, 256]);
      const uncropped = await sam.predict(asReference, prompt);
      await assertClose(uncropped.masks, expected[`${c.name}.masks_logits`], `${c.name}.masks_logits`);
      assert.deepEqual(out.masks.shape, uncropped.masks.shape);
      out.dispose();
      uncropped.dispose();
    }
    embedding.dispose();
    sam.dispose();
  }
});

fixtureTest('presets have exactly the official tensor names and shapes', async () => {
  for (const [preset, count] of [['vit_b', 314], ['vit_l', 482], ['vit_h', 594]]) {
    const keys = JSON.parse(readFileSync(fixture('sam-keys', `sam_${preset}.keys.json`), 'utf8'));
    assert.equal(Object.keys(keys).length, count);
    // Shapes only: building ViT-H's 641M parameters just to list them would take minutes.
    const sam = await Sam.load({ preset });
    const shapes = Object.fromEntries(Object.entries(sam.stateDict('sam')).map(([k, t]) => [k, t.shape]));
    assert.deepEqual(Object.keys(shapes).sort(), Object.keys(keys).sort(), preset);
    for (const [name, shape] of Object.entries(keys)) assert.deepEqual(shapes[name], shape, `${preset} ${name}`);
    sam.dispose();
  }
});

fixtureTest('strict loading lists every missing, unexpected and mis-shaped tensor in one error', async (t) => {
  const { tensors } = await checkpoint.readSafetensors(fixture('sam-tiny', 'sam.safetensors'));
  delete tensors['mask_decoder.iou_token.weight'];
  tensors['not.a.real.key'] = Tensor.from(new Float32Array(1), [1]);
  tensors['prompt_encoder.no_mask_embed.weight'] = Tensor.from(new Float32Array(5), [1, 5]);
  const { mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const path = join(mkdtempSync(join(tmpdir(), 'seqsam-')), 'broken.safetensors');
  await checkpoint.writeSafetensors(path, tensors);
  await assert.rejects(Sam.load({ config: reference.config, checkpoint: path }), (e) => {
    assert.equal(e.code, 'ERR_CHECKPOINT');
    assert.match(e.message, /mask_decoder\.iou_token\.weight/);
    assert.match(e.message, /not\.a\.real\.key/);
    assert.match(e.message, /prompt_encoder\.no_mask_embed\.weight/);
    assert.ok(e.message.includes(path));
    return true;
  });
  disposeAll(tensors);
});

fixtureTest('Hugging Face names load into the same model', async (t) => {
  const { tensors } = await checkpoint.readSafetensors(fixture('sam-tiny', 'sam.safetensors'));
  const renamed = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [`sam.${checkpoint.huggingFaceName(k)}`, v]));
  const { mkdtempSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const path = join(mkdtempSync(join(tmpdir(), 'seqsam-')), 'hf.safetensors');
  await checkpoint.writeSafetensors(path, renamed);
  const sam = await Sam.load({ config: reference.config, checkpoint: path });
  const embedding = await sam.embed(await rawImage());
  const out = await sam.predict(embedding, { box: reference.cases[1].box, multimask: false });
  await assertClose(out.lowResLogits, expected['box_single.low_res_logits'], 'box_single via HF names');
  out.dispose();
  embedding.dispose();
  sam.dispose();
  disposeAll(tensors);
});

fixtureTest('bad inputs are coded errors naming what is wrong', async () => {
  const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors') });
  const embedding = await sam.embed(await rawImage());
  const cases = [
    [{ points: [[500, 10]], pointLabels: [1] }, 'ERR_ARGUMENT', /outside/],
    [{ box: [100, 10, 50, 60] }, 'ERR_ARGUMENT', /x1 < x0/],
    [{ points: [[5, 5]], pointLabels: [1, 0] }, 'ERR_SHAPE', /labels/],
    [{ points: [[5, 5]], pointLabels: [2] }, 'ERR_ARGUMENT', /pointLabels/],
    [{}, 'ERR_ARGUMENT', /points or a box/],
    [{ box: [1, 1, 9, 9], maskInput: Tensor.from(new Float32Array(32 * 32), [1, 1, 32, 32]) }, 'ERR_SHAPE', /maskInput/],
  ];
  for (const [prompt, code, pattern] of cases) {
    await assert.rejects(sam.predict(embedding, prompt), (e) => e instanceof SeqsamError && e.code === code && pattern.test(e.message), JSON.stringify(prompt));
  }
  await assert.rejects(sam.embed({ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }), (e) => e.code === 'ERR_SHAPE' && /empty/.test(e.message));
  await assert.rejects(sam.embed({ data: new Float32Array([1, NaN, 3, 4]), width: 2, height: 2, channels: 1 }), (e) => e.code === 'ERR_ARGUMENT' && /NaN/.test(e.message));
  await assert.rejects(sam.embed({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }), (e) => e.code === 'ERR_SHAPE' && /needs 12/.test(e.message));
  await assert.rejects(sam.embed('/no/such/image.png'), (e) => e.code === 'ERR_IO' && /image\.png/.test(e.message));
  await assert.rejects(sam.embed(Buffer.from('not an image')), (e) => e.code === 'ERR_ARGUMENT');
  embedding.dispose();
  sam.dispose();
  await assert.rejects(sam.embed(await rawImage()), (e) => e.code === 'ERR_DISPOSED');
});

fixtureTest('masks are cropped to the unpadded input before resizing to the original size', async () => {
  // Independent check of the official post-processing on a ramp: logits equal to the low-res column
  // index, upscaled ×4 (256²), cropped to the 192 real columns and resized back to 192 columns, stay
  // a ramp over the real image only; without the crop they would stretch over the padding too.
  const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors') });
  const embedding = await sam.embed(await rawImage());
  const out = await sam.predict(embedding, { box: reference.cases[1].box, multimask: false });
  const low = await values(out.lowResLogits);
  const masks = await values(out.masks);
  // Pixel (y, x) of the original image sits at low-res (y/4, x/4) for this image (scale 1, crop only).
  for (const [y, x] of [[2, 2], [100, 50], [200, 150], [250, 189]]) {
    const ly = Math.min(63, Math.max(0, (y + 0.5) / 4 - 0.5));
    const lx = Math.min(63, Math.max(0, (x + 0.5) / 4 - 0.5));
    const y0 = Math.floor(ly), x0 = Math.floor(lx), y1 = Math.min(63, y0 + 1), x1 = Math.min(63, x0 + 1);
    const fy = ly - y0, fx = lx - x0;
    const at = (yy, xx) => low[yy * 64 + xx];
    const bilinear = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
    assert.ok(Math.abs(masks[y * 192 + x] - bilinear) < 1e-4, `(${y}, ${x}): ${masks[y * 192 + x]} vs ${bilinear}`);
  }
  out.dispose();
  embedding.dispose();
  sam.dispose();
});

test('images are resized on the long side, grayscale and 16-bit inputs become RGB', async () => {
  // Random weights: only the geometry matters here, so the built-in config of the same shape serves.
  const sam = await Sam.load({ config: tinyConfig, seed: 3 });
  // 512×384 → 256×192: the official ResizeLongestSide shape.
  const big = { data: new Uint8Array(512 * 384 * 3).fill(100), width: 384, height: 512, channels: 3 };
  const e1 = await sam.embed(big);
  assert.deepEqual(e1.originalSize, [512, 384]);
  assert.deepEqual(e1.inputSize, [256, 192]);
  const out = await sam.predict(e1, { box: [10, 20, 300, 400] });
  assert.deepEqual(out.masks.shape, [1, 1, 512, 384]);
  assert.deepEqual(out.lowResLogits.shape, [1, 1, 64, 64]);
  // A gray 16-bit image with a window equals the same gray as 8-bit RGB.
  const gray16 = { data: new Uint16Array(64 * 64).fill(1000), width: 64, height: 64, channels: 1 };
  const e2 = await sam.embed(gray16, { window: [0, 2550] });
  const e3 = await sam.embed({ data: new Uint8Array(64 * 64 * 3).fill(100), width: 64, height: 64, channels: 3 });
  assert.ok(relativeL2(await values(e2.tensor), await values(e3.tensor)) < 1e-6);
  for (const x of [e1, e2, e3, out]) x.dispose();
  sam.dispose();
});

fixtureTest('several images embed as one batch and take one prompt each', async () => {
  const sam = await Sam.load({ config: reference.config, checkpoint: fixture('sam-tiny', 'sam.safetensors') });
  const image = await rawImage();
  const flipped = { ...image, data: Uint8Array.from(image.data).reverse() };
  const batch = await sam.embed([image, flipped]);
  assert.deepEqual(batch.tensor.shape, [2, 32, 16, 16]);
  const single = await sam.embed(flipped);
  const all = await values(batch.tensor);
  assert.ok(relativeL2(all.slice(all.length / 2), await values(single.tensor)) < 1e-5);
  const boxes = [reference.cases[1].box, [10, 10, 100, 120]];
  const out = await sam.predict(batch, { boxes, multimask: false });
  assert.deepEqual(out.lowResLogits.shape, [2, 1, 64, 64]);
  const first = await sam.predict(await sam.embed(image), { box: boxes[0], multimask: false });
  assert.ok(relativeL2((await values(out.lowResLogits)).slice(0, 64 * 64), await values(first.lowResLogits)) < 1e-5);
  await assert.rejects(sam.embed([image, { data: new Uint8Array(12), width: 2, height: 2, channels: 3 }]), (e) => e.code === 'ERR_SHAPE' && /one size/.test(e.message));
  await assert.rejects(sam.predict(batch, { boxes: [boxes[0], boxes[1], boxes[1]] }), (e) => e.code === 'ERR_SHAPE');
  for (const x of [batch, single, out, first]) x.dispose();
  sam.dispose();
});
