// Turns what users hand us (a file path, an encoded image, raw pixels) into the (H, W, 3) tensor the
// encoder takes: grayscale becomes three channels, 16-bit and float data go through an intensity window.
import sharp from 'sharp';

import { SeqsamError } from '../errors.js';
import { Tensor } from '../tensor.js';

/**
 * Decoded pixels, row-major and channel-interleaved. Grayscale becomes three channels; a fourth (alpha)
 * channel is dropped. 8-bit data is used as is; 16-bit and float data go through {@link ImageOptions.window}.
 */
export interface RawPixels {
  /** width × height × channels values. */
  data: Uint8Array | Uint8ClampedArray | Uint16Array | Float32Array | Float64Array;
  /** Width in pixels (a positive integer). */
  width: number;
  /** Height in pixels (a positive integer). */
  height: number;
  /** 1 (grayscale), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/**
 * An image: a file path or an encoded image in memory (any format sharp reads: PNG, JPEG, TIFF, WebP, ...),
 * or {@link RawPixels}.
 */
export type ImageInput = string | Uint8Array | RawPixels;

/** How an image's pixels become the encoder's 0..255 RGB input. */
export interface ImageOptions {
  /**
   * Intensities mapped to 0..255 for non-8-bit data (16-bit and float raw pixels): [low, high] (clipped;
   * high > low), or 'minmax' (the default: each image's own range, as the reference preprocesses CT).
   * 8-bit data is never rescaled.
   */
  window?: [number, number] | 'minmax';
}

export interface DecodedImage {
  tensor: Tensor; // (H, W, 3), uint8 or float32 on the 0..255 scale
  width: number;
  height: number;
}

function describe(input: ImageInput): string {
  return typeof input === 'string' ? input : input instanceof Uint8Array ? 'image buffer' : 'raw image';
}

export async function decodeEncoded(input: string | Uint8Array): Promise<RawPixels> {
  try {
    const { data, info } = await sharp(input).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    const message = (error as Error).message;
    const code = typeof input === 'string' && /missing|exist|ENOENT/i.test(message) ? 'ERR_IO' : 'ERR_ARGUMENT';
    throw new SeqsamError(code, `${describe(input)}: cannot decode image (${message})`);
  }
}

function checkRaw(raw: RawPixels): void {
  const { width, height, channels, data } = raw;
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new SeqsamError('ERR_SHAPE', `raw image: ${name} must be a positive integer (got ${v}); the image is empty`);
  }
  if (![1, 3, 4].includes(channels)) throw new SeqsamError('ERR_SHAPE', `raw image: channels must be 1, 3 or 4 (got ${channels})`);
  if (data.length !== width * height * channels) {
    throw new SeqsamError('ERR_SHAPE', `raw image: ${width}×${height}×${channels} needs ${width * height * channels} values, data has ${data.length}`);
  }
}

// One pass: channel selection/replication plus, for non-8-bit data, the intensity window.
function toRgb(raw: RawPixels, options: ImageOptions): { data: Uint8Array | Float32Array; dtype: 'uint8' | 'float32' } {
  const { width, height, channels, data } = raw;
  const pixels = width * height;
  const isBytes = data instanceof Uint8Array || data instanceof Uint8ClampedArray;
  let scale = 1;
  let offset = 0;
  if (!isBytes) {
    let lo: number;
    let hi: number;
    if (Array.isArray(options.window)) {
      [lo, hi] = options.window;
      if (!(hi > lo)) throw new SeqsamError('ERR_ARGUMENT', `image window [${lo}, ${hi}] must have high > low`);
    } else {
      lo = Infinity;
      hi = -Infinity;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (Number.isNaN(v)) throw new SeqsamError('ERR_ARGUMENT', `raw image: pixel ${Math.floor(i / channels)} is NaN`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    scale = hi > lo ? 255 / (hi - lo) : 0;
    offset = lo;
  }
  const out = isBytes ? new Uint8Array(pixels * 3) : new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const v = data[p * channels + (channels === 1 ? 0 : c)];
      if (isBytes) {
        out[p * 3 + c] = v;
      } else {
        // An infinite intensity is a broken pixel, not a bright one: it would otherwise clip silently.
        if (!Number.isFinite(v)) throw new SeqsamError('ERR_ARGUMENT', `raw image: pixel ${p} is ${v} (NaN or infinite)`);
        out[p * 3 + c] = Math.min(255, Math.max(0, (v - offset) * scale));
      }
    }
  }
  return { data: out, dtype: isBytes ? 'uint8' : 'float32' };
}

export async function decodeImage(input: ImageInput, options: ImageOptions = {}, device = 'cpu'): Promise<DecodedImage> {
  let raw: RawPixels;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    raw = await decodeEncoded(input);
  } else if (input && typeof input === 'object' && 'data' in input) {
    checkRaw(input);
    raw = input;
  } else {
    throw new SeqsamError('ERR_ARGUMENT', 'image must be a file path, an encoded image Buffer, or { data, width, height, channels }');
  }
  const rgb = raw.channels === 3 && (raw.data instanceof Uint8Array) ? { data: raw.data, dtype: 'uint8' as const } : toRgb(raw, options);
  const tensor = Tensor.from(rgb.data, [raw.height, raw.width, 3], { device });
  return { tensor, width: raw.width, height: raw.height };
}
