// QUBIQ preprocessing as the reference does it, for comparing with its numbers:
// the image is shifted up by |min| (so an image whose minimum is positive is shifted further up, not
// down to 0), scaled to 256·x/max and cast to 8 bits — the maximum, 256, wraps to 0, as numpy's cast
// does — then resized to 256×256 by Pillow (bicubic, its default). Each segmentation is resized as a
// float image the same way and thresholded at > 0, so bicubic overshoot around an edge counts as
// foreground. The default preprocessing (min–max to [0, 1] at the native size) has neither artefact.
import { resizeFloat, resizeUint8 } from './pil-resize.js';
import type { RawImage } from './types.js';

/** The side the reference resizes every QUBIQ image and label to. */
export const referenceQubiqSize = 256;

/** The reference's 8-bit cast of 256·(x + |min|)/max: truncation, with 256 wrapping to 0. */
export function referenceQubiqIntensities(pixels: ArrayLike<number>): Uint8Array {
  let min = Infinity;
  for (let i = 0; i < pixels.length; i++) min = Math.min(min, pixels[i]!);
  const shift = Math.abs(min);
  let max = -Infinity;
  for (let i = 0; i < pixels.length; i++) max = Math.max(max, pixels[i]! + shift);
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const scaled = (256 * (pixels[i]! + shift)) / max;
    // A constant zero image divides 0 by 0: numpy casts that NaN to 0 as well.
    out[i] = Number.isFinite(scaled) ? Math.trunc(scaled) & 0xff : 0;
  }
  return out;
}

/** The image the reference feeds for one QUBIQ case: 256×256, 8-bit, one channel. */
export function referenceQubiqImage(pixels: ArrayLike<number>, width: number, height: number): RawImage {
  const bytes = referenceQubiqIntensities(pixels);
  const data = resizeUint8(bytes, width, height, referenceQubiqSize, referenceQubiqSize, 'bicubic');
  return { data, width: referenceQubiqSize, height: referenceQubiqSize, channels: 1 };
}

/** One segmentation as the reference reads it: resized bicubically as a float image, then > 0. */
export function referenceQubiqLabel(values: ArrayLike<number>, width: number, height: number): Uint8Array {
  const resized = resizeFloat(values, width, height, referenceQubiqSize, referenceQubiqSize, 'bicubic');
  return Uint8Array.from(resized, (v) => (v > 0 ? 1 : 0));
}
