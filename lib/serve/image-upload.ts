// An uploaded image: base64 PNG or JPEG, checked before it is decoded (format and size from the header
// alone), so that a huge or foreign file costs nothing but its upload.
import { createHash } from 'node:crypto';

import sharp from 'sharp';

import { SeqsamError } from '../errors.js';
import { httpError } from './http-errors.js';

export interface UploadedImage {
  bytes: Buffer;
  // content hash: the same image always gets the same id
  id: string;
  width: number;
  height: number;
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

export async function readUploadedImage(text: string, maxSide: number): Promise<UploadedImage> {
  // A data URL's prefix is accepted: it is what a browser's FileReader gives.
  const payload = text.replace(/^data:image\/[a-z]+;base64,/, '');
  if (payload.length === 0 || payload.length % 4 !== 0 || !base64.test(payload)) throw new SeqsamError('ERR_ARGUMENT', 'image must be base64 (a PNG or JPEG file)');
  const bytes = Buffer.from(payload, 'base64');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes).metadata();
  } catch (error) {
    throw new SeqsamError('ERR_ARGUMENT', `image: cannot decode (${(error as Error).message})`);
  }
  if (meta.format !== 'png' && meta.format !== 'jpeg') throw new SeqsamError('ERR_ARGUMENT', `image must be PNG or JPEG (got ${meta.format ?? 'an unknown format'})`);
  const { width = 0, height = 0 } = meta;
  if (width < 1 || height < 1) throw new SeqsamError('ERR_ARGUMENT', 'image is empty');
  if (width > maxSide || height > maxSide) throw httpError(413, 'ERR_ARGUMENT', `image is ${width}×${height}; this server takes at most ${maxSide} pixels a side`);
  return { bytes, id: createHash('sha256').update(bytes).digest('hex'), width, height };
}
