// Masks and maps as the API returns them: binary masks as PNG (base64) or run-length encoding, the mean
// and disagreement maps as 8-bit greyscale PNGs.
import sharp from 'sharp';

/** Runs of a binary mask in row-major order, starting with a run of background (possibly 0 long). */
export interface RunLength {
  size: [number, number]; // [height, width]
  counts: number[];
}

export function runLength(logits: Float32Array, offset: number, height: number, width: number): RunLength {
  const counts: number[] = [];
  let current = false;
  let run = 0;
  for (let i = 0; i < height * width; i++) {
    const on = logits[offset + i] > 0;
    if (on !== current) {
      counts.push(run);
      run = 0;
      current = on;
    }
    run++;
  }
  counts.push(run);
  return { size: [height, width], counts };
}

export async function greyPng(pixels: Uint8Array, height: number, width: number): Promise<string> {
  const png = await sharp(pixels, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png({ compressionLevel: 6 }).toBuffer();
  return png.toString('base64');
}

/** Mask m of (M, H, W) logits as a PNG: 255 where the logit is positive. */
export function maskPixels(logits: Float32Array, offset: number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = logits[offset + i] > 0 ? 255 : 0;
  return out;
}

/** Values in [0, scale] mapped onto 0..255. */
export function scaledPixels(values: Float32Array, scale: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((values[i] / scale) * 255)));
  return out;
}
