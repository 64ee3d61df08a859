// How LIDC's stored intensities (float, in [0, 1]) reach the encoder.
//
// 'minmax' (default): the float image as stored; the model stretches each crop over its own min..max
// onto 0..255 before SAM's mean/std. A crop that does not span exactly 0..1 is brightened or contrasted.
// 'reference': what the reference's pipeline gives the encoder. Its processor was told not to rescale
// ([0, 1] images), converted each image to 8 bits for resizing (×255, truncated), and normalised with
// ImageNet's mean/std in [0, 1] units — the same numbers as 8-bit pixels normalised with SAM's mean/std
// (ImageNet's × 255). So the image becomes ⌊255·x⌋ as 8-bit data, which the model takes as it is.
// (The reference resized in 8 bits and rounded again before normalising; the model resizes the 8-bit
// values in float: a difference of at most half a grey level.)
import { DataError } from './errors.js';
import type { RawImage, Sample } from './types.js';

/**
 * How LIDC's stored [0, 1] intensities reach the encoder: 'minmax' (the float image as stored; the model
 * stretches each crop over its own min..max) or 'reference' (⌊255·x⌋ as 8-bit data, as the reference's
 * pipeline gave the encoder).
 */
export type LidcIntensity = 'minmax' | 'reference';

export function checkLidcIntensity(what: string, intensity: unknown): LidcIntensity {
  if (intensity === undefined) return 'minmax';
  if (intensity !== 'minmax' && intensity !== 'reference') {
    throw new DataError(`${what}: option intensity must be 'minmax' or 'reference', got ${JSON.stringify(intensity)}`, 'ERR_ARGUMENT');
  }
  return intensity;
}

/** ⌊255·x⌋ of each pixel (clipped to 0..255), as 8-bit data. */
export function referenceIntensityImage(image: RawImage): RawImage {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.floor(255 * image.data[i]!)));
  return { ...image, data: out };
}

export function withIntensity(sample: Sample, intensity: LidcIntensity): Sample {
  return intensity === 'minmax' ? sample : { ...sample, image: referenceIntensityImage(sample.image) };
}
