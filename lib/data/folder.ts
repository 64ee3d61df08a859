// A plain folder of images and per-rater masks:
//   <dir>/images/<id>.<ext>            any format sharp decodes (png, jpg, tif, webp, gif, avif, …)
//   <dir>/labels/<rater>/<id>.<ext>    one sub-folder per rater (any number); a missing file = blank label
//   <dir>/groups.json                  optional {id: group}; without it, group = id
//
// Label rule: a pixel is foreground when its brightest colour channel is above half the range (> 127 for
// 8-bit files, > 32767 for 16-bit ones) and, if the file has an alpha channel, it is not fully
// transparent — except in files whose values are all 0 or 1 (masks stored as 0/1), where foreground
// is > 0. Palette and 1-bit files are expanded by sharp to their colours first, so a 1-bit mask
// (0/255 after expansion) and a palette mask whose foreground colour has a channel > 127 both work.

import type { FileUrl } from '../platform-types.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';

import sharp, { type OutputInfo } from 'sharp';

import { DataError, ioError } from './errors.js';
import { type Dataset, type RawImage, type Sample } from './types.js';
import { checkIndex, naturalCompare, toPath } from './util.js';

/** Options of {@link folder}. */
export interface FolderOptions {
  /** Drop an alpha channel from the images (default true); labels use theirs either way (transparent = background). */
  removeAlpha?: boolean;
}

interface Item {
  id: string;
  image: string;
  /** Per rater: the label file, or null when that rater has no file for this image (blank). */
  labels: (string | null)[];
}

/**
 * A folder of images and per-rater masks (see {@link folder} for the layout). Images keep their own size,
 * channels (1 grey, 3 colour, +1 with a kept alpha) and depth (Uint8Array, or Uint16Array for 16-bit files).
 */
export class FolderDataset implements Dataset {
  /** `folder:<dir>`. */
  readonly name: string;
  /** K, the number of rater sub-folders under labels/. */
  readonly raters: number;
  /** The rater sub-folders' names, in natural order (label k of a sample is rater k's). */
  readonly raterNames: readonly string[];
  /** Every image's id (its file name without extension), in natural order ('case2' before 'case10'). */
  readonly ids: readonly string[];
  /** Every image's group, from groups.json, else its id. */
  readonly groups: readonly string[];
  /** The dataset folder, as a path. */
  readonly dir: string;
  private readonly items: Item[];
  private readonly removeAlpha: boolean;

  /** @internal */
  constructor(dir: string, items: Item[], raterNames: string[], groups: string[], removeAlpha: boolean) {
    this.name = `folder:${dir}`;
    this.dir = dir;
    this.items = items;
    this.raterNames = raterNames;
    this.raters = raterNames.length;
    this.ids = items.map((i) => i.id);
    this.groups = groups;
    this.removeAlpha = removeAlpha;
  }

  /** The number of images. */
  get length(): number {
    return this.items.length;
  }

  /** Decodes image `i` and its K labels (a rater without a file for it gives a blank mask). */
  async get(i: number): Promise<Sample> {
    checkIndex(this, i);
    const item = this.items[i]!;
    const image = await decodeImage(item.image, this.removeAlpha);
    const labels = await Promise.all(
      item.labels.map((file) => (file === null ? new Uint8Array(image.width * image.height) : decodeLabel(file, image.width, image.height, item.image))),
    );
    return { id: item.id, group: this.groups[i]!, image, labels };
  }
}

/** Grey images stay 1 channel (2 with alpha), colour ones 3 (4); 16-bit files give a Uint16Array. */
async function decodeImage(file: string, removeAlpha: boolean): Promise<RawImage> {
  try {
    const meta = await sharp(file, { failOn: 'error' }).metadata();
    const sixteen = meta.depth === 'ushort';
    const grey = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    let pipeline = sharp(file, { failOn: 'error' });
    if (removeAlpha && meta.hasAlpha) pipeline = pipeline.removeAlpha();
    if (grey) pipeline = pipeline.toColourspace(sixteen ? 'grey16' : 'b-w');
    else if (sixteen) pipeline = pipeline.toColourspace('rgb16');
    const { data, info } = await pipeline.raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    const pixels = sixteen ? new Uint16Array(bytes.buffer, 0, bytes.byteLength / 2) : bytes;
    return { data: pixels, width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw decodeError(file, error);
  }
}

async function decodeLabel(file: string, width: number, height: number, imageFile: string): Promise<Uint8Array> {
  let values: Uint8Array | Uint16Array;
  let info: OutputInfo;
  let sixteen: boolean;
  try {
    const meta = await sharp(file, { failOn: 'error' }).metadata();
    sixteen = meta.depth === 'ushort';
    let pipeline = sharp(file, { failOn: 'error' });
    if (sixteen) pipeline = pipeline.toColourspace('rgb16');
    const out = await pipeline.raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    info = out.info;
    values = sixteen ? new Uint16Array(out.data.slice().buffer, 0, out.data.byteLength / 2) : out.data;
  } catch (error) {
    throw decodeError(file, error);
  }
  if (info.width !== width || info.height !== height) {
    throw new DataError(`${file}: label is ${info.width}×${info.height} but image ${imageFile} is ${width}×${height}`, 'ERR_DATA');
  }
  const ch = info.channels;
  const hasAlpha = ch === 2 || ch === 4;
  const colour = hasAlpha ? ch - 1 : ch;
  const n = width * height;
  let binary01 = true;
  for (let p = 0; p < n && binary01; p++) for (let c = 0; c < colour; c++) if (values[p * ch + c]! > 1) binary01 = false;
  const threshold = binary01 ? 0 : sixteen ? 32767 : 127;
  const mask = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    if (hasAlpha && values[p * ch + colour] === 0) continue;
    let max = 0;
    for (let c = 0; c < colour; c++) max = Math.max(max, values[p * ch + c]!);
    mask[p] = max > threshold ? 1 : 0;
  }
  return mask;
}

function decodeError(file: string, error: unknown): DataError {
  const e = error as { code?: string; message?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('E')) return ioError(file, error);
  const msg = String(e?.message ?? error);
  if (/no such file|not exist|ENOENT|is missing/i.test(msg)) return ioError(file, error);
  return new DataError(`${file}: cannot decode image (${msg})`, 'ERR_DATA', { cause: error });
}

async function listDir(dir: string, what: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw ioError(dir, error, `cannot read ${what}`);
  }
}

function stem(name: string): string {
  const ext = extname(name);
  return ext ? name.slice(0, -ext.length) : name;
}

/**
 * Indexes a plain folder of images and per-rater masks (file names only; pixels are read in get(i)):
 * - `<dir>/images/<id>.<ext>`: any format sharp decodes (png, jpg, tif, webp, gif, avif, …);
 * - `<dir>/labels/<rater>/<id>.<ext>`: one sub-folder per rater (any number); a missing file is a blank label;
 * - `<dir>/groups.json`: optional `{id: group}`; without it, group = id.
 *
 * A label pixel is foreground when its brightest colour channel is above half the range (> 127 for 8-bit
 * files, > 32767 for 16-bit ones) and it is not fully transparent; in files holding only 0 and 1, when it
 * is > 0. Throws `ERR_IO` for a missing folder, `ERR_DATA` for an inconsistent layout.
 */
export async function folder(dir: string | FileUrl, options: FolderOptions = {}): Promise<FolderDataset> {
  const root = toPath(dir, 'folder dir');
  try {
    if (!(await stat(root)).isDirectory()) throw new DataError(`${root}: not a directory`, 'ERR_IO');
  } catch (error) {
    throw ioError(root, error, 'cannot open dataset folder');
  }
  const imagesDir = join(root, 'images');
  const labelsDir = join(root, 'labels');

  const images = new Map<string, string>();
  for (const ent of await listDir(imagesDir, 'images folder')) {
    if (!ent.isFile() || ent.name.startsWith('.')) continue;
    const id = stem(ent.name);
    if (images.has(id)) {
      throw new DataError(`${imagesDir}: two images with id '${id}' (${images.get(id)}, ${ent.name})`, 'ERR_DATA');
    }
    images.set(id, ent.name);
  }
  if (images.size === 0) throw new DataError(`${imagesDir}: no image files`, 'ERR_DATA');
  const ids = [...images.keys()].sort(naturalCompare);

  const raterNames = (await listDir(labelsDir, 'labels folder'))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(naturalCompare);
  if (raterNames.length === 0) throw new DataError(`${labelsDir}: no rater sub-folders (expected labels/<rater>/<id>.png)`, 'ERR_DATA');

  const perRater: Map<string, string>[] = [];
  for (const rater of raterNames) {
    const rdir = join(labelsDir, rater);
    const files = new Map<string, string>();
    for (const ent of await listDir(rdir, `labels folder of rater '${rater}'`)) {
      if (!ent.isFile() || ent.name.startsWith('.')) continue;
      const id = stem(ent.name);
      if (!images.has(id)) {
        throw new DataError(`${join(rdir, ent.name)}: label for id '${id}', which has no file in ${imagesDir}`, 'ERR_DATA');
      }
      if (files.has(id)) throw new DataError(`${rdir}: two labels with id '${id}' (${files.get(id)}, ${ent.name})`, 'ERR_DATA');
      files.set(id, join(rdir, ent.name));
    }
    perRater.push(files);
  }

  let groups: string[] = ids;
  const groupsFile = join(root, 'groups.json');
  let text: string | null = null;
  try {
    text = await readFile(groupsFile, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw ioError(groupsFile, error);
  }
  if (text !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new DataError(`${groupsFile}: not valid JSON (${(error as Error).message})`, 'ERR_DATA');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new DataError(`${groupsFile}: expected an object {id: group}`, 'ERR_DATA');
    }
    const map = parsed as Record<string, unknown>;
    groups = ids.map((id) => {
      const g = Object.prototype.hasOwnProperty.call(map, id) ? map[id] : undefined;
      if (typeof g !== 'string' && typeof g !== 'number') {
        throw new DataError(`${groupsFile}: no string group for id '${id}' (got ${JSON.stringify(g)})`, 'ERR_DATA');
      }
      return String(g);
    });
  }

  const items: Item[] = ids.map((id) => ({
    id,
    image: join(imagesDir, images.get(id)!),
    labels: perRater.map((files) => files.get(id) ?? null),
  }));
  return new FolderDataset(root, items, raterNames, groups, options.removeAlpha !== false);
}
