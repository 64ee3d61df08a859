// Pixel pictures of images, masks and maps as raw RGB buffers (row-major, 3 bytes a pixel), the form sharp
// takes as `raw` input. Everything here works at the image's own size; scaling happens when composing.
import { SeqsamError } from '../errors.js';
import { inferno, type Rgb } from './colors.js';

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface GreyInput {
  data: ArrayLike<number>;
  width: number;
  height: number;
  channels: number;
}

export function blank(width: number, height: number, shade = 255): RgbImage {
  return { data: new Uint8Array(width * height * 3).fill(shade), width, height };
}

// Any image (1–4 channels, any numeric type) → RGB, each image min–max windowed onto 0..255 so that CT
// intensities or [0, 1] floats show as well as 8-bit pictures. Colour images keep their colours.
export function toRgb(image: GreyInput): RgbImage {
  const { width, height, channels } = image;
  const n = width * height;
  if (image.data.length !== n * channels) throw new SeqsamError('ERR_SHAPE', `image data holds ${image.data.length} values, not ${width}×${height}×${channels}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < image.data.length; i++) {
    const v = image.data[i]!;
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const out = new Uint8Array(n * 3);
  const colour = channels >= 3;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      const v = image.data[p * channels + (colour ? c : 0)]!;
      out[p * 3 + c] = Number.isFinite(v) ? Math.round((v - lo) * scale) : 0;
    }
  }
  return { data: out, width, height };
}

// A copy of `base` with the mask (nonzero = foreground) tinted in `color` and its outline drawn solid, so
// that both the area and the exact edge read at a glance.
export function overlay(base: RgbImage, mask: ArrayLike<number>, color: Rgb, alpha = 0.4): RgbImage {
  const { width, height } = base;
  if (mask.length !== width * height) throw new SeqsamError('ERR_SHAPE', `mask holds ${mask.length} pixels, the image ${width}×${height}`);
  const out = Uint8Array.from(base.data);
  const inside = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x]! > 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!inside(x, y)) continue;
      const edge = !inside(x - 1, y) || !inside(x + 1, y) || !inside(x, y - 1) || !inside(x, y + 1);
      const a = edge ? 1 : alpha;
      const p = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) out[p + c] = Math.round((1 - a) * out[p + c]! + a * color[c]!);
    }
  }
  return { data: out, width, height };
}

// A box outline (x0, y0, x1, y1 in pixels, inclusive) drawn into a copy of the image.
export function drawBox(base: RgbImage, box: readonly number[], color: Rgb): RgbImage {
  const { width, height } = base;
  const out = Uint8Array.from(base.data);
  const [x0, y0, x1, y1] = box.map((v, i) => Math.round(Math.min(Math.max(v, 0), (i % 2 === 0 ? width : height) - 1)));
  const put = (x: number, y: number) => out.set(color, (y * width + x) * 3);
  for (let x = x0!; x <= x1!; x++) {
    put(x, y0!);
    put(x, y1!);
  }
  for (let y = y0!; y <= y1!; y++) {
    put(x0!, y);
    put(x1!, y);
  }
  return { data: out, width, height };
}

// A map of values in [0, max] → heat colours (inferno).
export function heatMap(values: ArrayLike<number>, width: number, height: number, max: number): RgbImage {
  if (values.length !== width * height) throw new SeqsamError('ERR_SHAPE', `map holds ${values.length} values, not ${width}×${height}`);
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < values.length; p++) out.set(inferno(max > 0 ? values[p]! / max : 0), p * 3);
  return { data: out, width, height };
}

// Per-pixel mean and variance of the hypotheses' foreground probabilities (sigmoid of the logits): where
// the variance is high, the plausible masks disagree. `logits` holds M planes of width × height.
export function disagreement(logits: ArrayLike<number>, masks: number, pixels: number): { mean: Float32Array; variance: Float32Array } {
  if (logits.length !== masks * pixels) throw new SeqsamError('ERR_SHAPE', `logits hold ${logits.length} values, not ${masks} × ${pixels}`);
  const mean = new Float32Array(pixels);
  const variance = new Float32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let s = 0;
    let s2 = 0;
    for (let m = 0; m < masks; m++) {
      const prob = 1 / (1 + Math.exp(-logits[m * pixels + p]!));
      s += prob;
      s2 += prob * prob;
    }
    mean[p] = s / masks;
    variance[p] = Math.max(0, s2 / masks - mean[p]! * mean[p]!);
  }
  return { mean, variance };
}
