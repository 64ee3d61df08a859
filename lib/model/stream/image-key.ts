// Identifies an image by its content, so that a repeated image reuses its embedding whatever form it came
// in (the same file twice, or the same bytes under two names). A path is read once, here; the bytes read
// are what gets decoded, so the key always matches the pixels embedded.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { SeqsamError } from '../../errors.js';
import type { ImageInput, ImageOptions, RawPixels } from '../image-input.js';

export interface KeyedImage {
  key: string;
  // what to decode: the file's bytes for a path, else the input itself
  input: Buffer | RawPixels;
}

function isRawPixels(value: unknown): value is RawPixels {
  return typeof value === 'object' && value !== null && 'data' in value && ArrayBuffer.isView((value as RawPixels).data);
}

export async function keyImage(field: string, image: ImageInput, options: ImageOptions = {}): Promise<KeyedImage> {
  const hash = createHash('sha256');
  // The window changes the pixels a non-8-bit image becomes: two windows are two images.
  hash.update(JSON.stringify(options.window ?? 'minmax'));
  let input: Buffer | RawPixels;
  if (typeof image === 'string') {
    try {
      input = await readFile(image);
    } catch (error) {
      throw new SeqsamError('ERR_IO', `${field}: cannot read ${image} (${(error as Error).message})`, { cause: error });
    }
    hash.update('encoded');
  } else if (Buffer.isBuffer(image)) {
    input = image;
    hash.update('encoded');
  } else if (isRawPixels(image)) {
    input = image;
    hash.update(`raw:${image.data.constructor.name}:${image.width}x${image.height}x${image.channels}`);
  } else {
    throw new SeqsamError('ERR_ARGUMENT', `${field} must be a file path, an encoded image Buffer, or { data, width, height, channels }`);
  }
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
  hash.update(bytes);
  return { key: hash.digest('hex'), input };
}
