// Turns a dataset Sample into what one training/evaluation step needs: the image (3 channels, at its own
// size: the model resizes and normalises it), a box prompt in the encoder's input frame, and the K labels
// on the low-res grid of the mask decoder's logits.
//
// Frames. The encoder input is the image resized so that its long side is `imageSize` (each side rounded
// as SAM's ResizeLongestSide: round(side · imageSize / max(h, w))), then padded right and bottom to
// imageSize × imageSize. The low-res logits (lowResSize², = imageSize / 4 for SAM) cover that padded
// square. Boxes are scaled per axis by newW / w and newH / h, exactly as SamModel.predict scales a box
// given in original pixels (both equal imageSize / max(h, w) up to that rounding), so a model trained on
// these boxes sees the same prompt when it is later called with a box in original pixels.
import { SeqsamError } from '../errors.js';
import type { RawPixels } from '../model/image-input.js';
import { mulberry32 } from './synthetic.js';
import type { RawImage, Sample } from './types.js';

/** A box [x0, y0, x1, y1]. */
export type Box = [number, number, number, number];

/** Which label a box prompt is drawn around: one non-blank label chosen at random, or the union of all labels. */
export type BoxSource = 'random-label' | 'union';

/**
 * How an image's intensities reach the encoder.
 * 'sam' (default): pixels as given (8-bit data unchanged; 16-bit and float data go through the model's
 * per-image min–max window onto 0..255), normalised natively with the config's pixel_mean / pixel_std.
 * 'minmax': every image min–max stretched onto 0..255 (float32) here, whatever its type, as MedSAM does
 * before training. MedSAM then feeds x / 255 ∈ [0, 1] to the encoder with no mean/std: load the model
 * with `pixel_mean: [0, 0, 0], pixel_std: [255, 255, 255]` in its config to get exactly that input
 * (no native change needed). MedSAM's square resize (aspect ratio not kept) is not reproduced: the model
 * always resizes the long side and pads.
 */
export type IntensityMode = 'sam' | 'minmax';

/** Options of {@link prepareImage}. */
export interface PrepareImageOptions {
  /** 'sam' (default) or 'minmax': see {@link IntensityMode}. */
  intensity?: IntensityMode;
}

/** Options of {@link prepareSample} / {@link prepareTargets}. */
export interface PrepareOptions extends PrepareImageOptions {
  /** The encoder's input side (config.image_size). */
  imageSize: number;
  /** The low-res logits' side (4 × the embedding grid; imageSize / 4 for SAM). Default imageSize / 4. */
  lowResSize?: number;
  /**
   * Which label the box is drawn around: one non-blank label chosen at random (as the reference does
   * for training, default), or the union of all labels.
   */
  boxFrom?: BoxSource;
  /**
   * MedSAM-style perturbation: each side of the box moves outwards by a random whole number of pixels
   * in [0, jitter] (original image pixels), clipped to the image. Default 0.
   */
  jitter?: number;
  /** Uniform [0, 1) draws for the label choice and the jitter (default: a fixed-seed generator). */
  rng?: () => number;
}

/**
 * One sample ready for a step. The encoder's input frame is the image resized so that its long side is
 * `imageSize` (each side rounded as SAM's ResizeLongestSide), then padded right and bottom to a square;
 * the low-res grid covers that padded square.
 */
export interface PreparedSample {
  /** The sample's id. */
  id: string;
  /** Three channels at the original size. */
  image: RawPixels;
  /** [x0, y0, x1, y1] in the encoder's input frame (see the interface). */
  box: Box;
  /** The same box in original image pixels (x1, y1 are inclusive pixel indices, as the reference). */
  boxOriginal: Box;
  /** K × lowResSize × lowResSize, 0/1, in the padded square frame of the low-res logits. */
  labels: Float32Array;
  /** K entries: 1 where the low-res label has any foreground (the loss skips blank labels), else 0. */
  labelMask: Float32Array;
  /** K, the labels. */
  numLabels: number;
  /** The low-res side. */
  lowResSize: number;
  /** [height, width] of the original image. */
  originalSize: [number, number];
  /** [height, width] of the resized image inside the encoder's input (before padding). */
  inputSize: [number, number];
  /** Which label the box came from (-1: the union, or the whole image when every label is blank). */
  boxLabel: number;
}

function positiveInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new SeqsamError('ERR_ARGUMENT', `prepareSample: ${name} must be a positive integer (got ${String(v)})`);
  return v;
}

/** SAM's ResizeLongestSide.get_preprocess_shape: [newH, newW]. */
export function resizedSize(height: number, width: number, longSide: number): [number, number] {
  const scale = longSide / Math.max(height, width);
  return [Math.floor(height * scale + 0.5), Math.floor(width * scale + 0.5)];
}

function checkImage(image: RawImage): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new SeqsamError('ERR_SHAPE', `prepareSample: image is ${width}×${height}; it must be at least 1×1`);
  }
  if (![1, 3, 4].includes(channels)) throw new SeqsamError('ERR_SHAPE', `prepareSample: image channels must be 1, 3 or 4 (got ${channels})`);
  if (data.length !== width * height * channels) {
    throw new SeqsamError('ERR_SHAPE', `prepareSample: a ${width}×${height}×${channels} image needs ${width * height * channels} values, data has ${data.length}`);
  }
}

/** The image with three channels (grey replicated, alpha dropped), optionally min–max stretched. */
export function prepareImage(image: RawImage, options: PrepareImageOptions = {}): RawPixels {
  checkImage(image);
  const intensity = options.intensity ?? 'sam';
  if (intensity !== 'sam' && intensity !== 'minmax') throw new SeqsamError('ERR_ARGUMENT', `prepareImage: intensity must be 'sam' or 'minmax' (got ${String(intensity)})`);
  const { width, height, channels, data } = image;
  const pixels = width * height;
  if (intensity === 'sam') {
    if (channels === 3) return { data, width, height, channels: 3 };
    const Ctor = data.constructor as new (n: number) => typeof data;
    const out = new Ctor(pixels * 3);
    for (let p = 0; p < pixels; p++) {
      const src = p * channels;
      out[p * 3] = data[src]!;
      out[p * 3 + 1] = data[channels === 1 ? src : src + 1]!;
      out[p * 3 + 2] = data[channels === 1 ? src : src + 2]!;
    }
    return { data: out, width, height, channels: 3 };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < Math.min(channels, 3); c++) {
      const v = data[p * channels + c]!;
      if (Number.isNaN(v)) throw new SeqsamError('ERR_ARGUMENT', `prepareImage: pixel ${p} is NaN`);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const out = new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = (data[p * channels + (channels === 1 ? 0 : c)]! - lo) * scale;
  }
  return { data: out, width, height, channels: 3 };
}

/** Tight box [x0, y0, x1, y1] (inclusive pixel indices) of the foreground, or null when blank. */
export function tightBox(mask: Uint8Array, width: number, height: number): Box | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

function unionBox(boxes: (Box | null)[]): Box | null {
  let out: Box | null = null;
  for (const b of boxes) {
    if (!b) continue;
    out = out ? [Math.min(out[0], b[0]), Math.min(out[1], b[1]), Math.max(out[2], b[2]), Math.max(out[3], b[3])] : [...b];
  }
  return out;
}

/**
 * Nearest-neighbour sampling of a full-resolution mask onto the low-res grid of the padded square:
 * low-res cell (i, j) covers encoder pixels [i·s, (i+1)·s) with s = imageSize / lowResSize; its centre
 * ((i + ½)·s, (j + ½)·s) maps back to original pixel (⌊cx · w / newW⌋, ⌊cy · h / newH⌋) when it lies
 * inside the resized image (cx < newW, cy < newH), and to padding (0) otherwise.
 */
export function lowResIndex(resized: number, original: number, imageSize: number, lowResSize: number): Int32Array {
  const out = new Int32Array(lowResSize);
  const step = imageSize / lowResSize;
  for (let i = 0; i < lowResSize; i++) {
    const centre = (i + 0.5) * step;
    out[i] = centre < resized ? Math.min(original - 1, Math.floor((centre * original) / resized)) : -1;
  }
  return out;
}

/** A {@link PreparedSample} without its image. */
export type PreparedTargets = Omit<PreparedSample, 'image'>;

/** The image (three channels, see prepareImage), the box prompt and the low-res labels of one sample. */
export function prepareSample(sample: Sample, options: PrepareOptions): PreparedSample {
  const targets = prepareTargets(sample, options);
  return { ...targets, image: prepareImage(sample.image, options) };
}

/** prepareSample without the image (the trainer takes images from the embedding cache). */
export function prepareTargets(sample: Sample, options: PrepareOptions): PreparedTargets {
  if (!sample || typeof sample !== 'object' || !sample.image || !Array.isArray(sample.labels)) {
    throw new SeqsamError('ERR_ARGUMENT', 'prepareSample: sample must be { id, image, labels, group }');
  }
  const imageSize = positiveInteger('imageSize', options.imageSize);
  const lowResSize = positiveInteger('lowResSize', options.lowResSize ?? imageSize / 4);
  const boxFrom = options.boxFrom ?? 'random-label';
  if (boxFrom !== 'random-label' && boxFrom !== 'union') throw new SeqsamError('ERR_ARGUMENT', `prepareSample: boxFrom must be 'random-label' or 'union' (got ${String(boxFrom)})`);
  const jitter = options.jitter ?? 0;
  if (typeof jitter !== 'number' || !Number.isInteger(jitter) || jitter < 0) throw new SeqsamError('ERR_ARGUMENT', `prepareSample: jitter must be a non-negative integer number of pixels (got ${String(jitter)})`);
  const rng = options.rng ?? mulberry32(0);

  checkImage(sample.image);
  const { width, height } = sample.image;
  const k = sample.labels.length;
  if (k < 1) throw new SeqsamError('ERR_ARGUMENT', `prepareSample: sample ${sample.id} has no labels`);
  sample.labels.forEach((l, i) => {
    if (!(l instanceof Uint8Array) || l.length !== width * height) {
      throw new SeqsamError('ERR_SHAPE', `prepareSample: sample ${sample.id} label ${i} must be a ${width}×${height} Uint8Array (got ${l?.length} values)`);
    }
  });
  const [newH, newW] = resizedSize(height, width, imageSize);

  // The box prompt, in original pixels first.
  const boxes = sample.labels.map((l) => tightBox(l, width, height));
  const nonBlank = boxes.flatMap((b, i) => (b ? [i] : []));
  let boxLabel = -1;
  let box: Box | null;
  if (boxFrom === 'union') {
    box = unionBox(boxes);
  } else {
    // One draw whatever the labels, so the generator's stream does not depend on the data.
    const u = rng();
    if (nonBlank.length) boxLabel = nonBlank[Math.min(nonBlank.length - 1, Math.floor(u * nonBlank.length))]!;
    box = boxLabel >= 0 ? boxes[boxLabel]! : null;
  }
  if (box) {
    if (jitter > 0) {
      const draw = () => Math.min(jitter, Math.floor(rng() * (jitter + 1)));
      box = [Math.max(0, box[0] - draw()), Math.max(0, box[1] - draw()), Math.min(width, box[2] + draw()), Math.min(height, box[3] + draw())];
    }
  } else {
    // Every label blank: the whole image (the reference's fallback of get_bounding_box).
    box = [0, 0, width, height];
  }
  const sx = newW / width;
  const sy = newH / height;
  const scaled: Box = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];

  // Labels on the low-res grid of the padded square.
  const cols = lowResIndex(newW, width, imageSize, lowResSize);
  const rows = lowResIndex(newH, height, imageSize, lowResSize);
  const plane = lowResSize * lowResSize;
  const labels = new Float32Array(k * plane);
  const labelMask = new Float32Array(k);
  for (let l = 0; l < k; l++) {
    const src = sample.labels[l]!;
    const base = l * plane;
    let any = 0;
    for (let i = 0; i < lowResSize; i++) {
      const y = rows[i]!;
      if (y < 0) break; // padding from here on
      const row = y * width;
      for (let j = 0; j < lowResSize; j++) {
        const x = cols[j]!;
        if (x < 0) break;
        if (src[row + x]) {
          labels[base + i * lowResSize + j] = 1;
          any = 1;
        }
      }
    }
    labelMask[l] = any;
  }
  return {
    id: sample.id,
    box: scaled,
    boxOriginal: box,
    labels,
    labelMask,
    numLabels: k,
    lowResSize,
    originalSize: [height, width],
    inputSize: [newH, newW],
    boxLabel,
  };
}
