// embedPixels: the encoder on pixels already in a tensor (on the CPU or the GPU) equals embed() of the same
// raw image.
import assert from 'node:assert/strict';
import test from 'node:test';

import { Sam, Tensor, info, tinyConfig } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

for (const device of info().cuda ? ['cpu', 'cuda'] : ['cpu']) {
  test(`embedPixels on ${device} pixels equals embed() of the raw image`, async () => {
    const sam = await Sam.load({ config: tinyConfig, seed: 2, device });
    const random = mulberry32(6);
    const [height, width] = [40, 56];
    const data = Uint8Array.from({ length: height * width * 3 }, () => Math.floor(random() * 256));
    const viaImage = await sam.embed({ data, width, height, channels: 3 });
    const pixels = Tensor.from(data, [height, width, 3], { device });
    const viaPixels = await sam.embedPixels(pixels);
    assert.deepEqual(viaPixels.originalSize, viaImage.originalSize);
    assert.deepEqual(viaPixels.inputSize, viaImage.inputSize);
    assert.deepEqual(await viaPixels.tensor.toTypedArray(), await viaImage.tensor.toTypedArray());
    const flat = Tensor.from(data, [height * width * 3]);
    await assert.rejects(sam.embedPixels(flat), { code: 'ERR_SHAPE' });
    for (const t of [viaImage, viaPixels, pixels, flat]) t.dispose();
    sam.dispose();
  });
}
