// The Probabilistic U-Net LIDC-IDRI pickle (`data_lidc.pickle`):
//   {key: {'image': float H×W in [0,1], 'masks': K binary H×W uint8 masks (list, or one K×H×W array),
//          'series_uid': str}}
// read without Python through the streaming unpickler in ./pickle.ts (protocols 2–5).

import type { FileUrl } from '../platform-types.js';
import { open } from 'node:fs/promises';

import { DataError, ioError } from './errors.js';
import { toFloat32, toUint8, checkLayout, toFloat64 } from './ndarray.js';
import { BigStr, LazyBytes, NdArray, describe, unpickleFile, utf8ToLatin1 } from './pickle.js';
import { checkLidcIntensity, withIntensity, type LidcIntensity } from './lidc-intensity.js';
import { type Dataset, type Sample } from './types.js';
import { toPath, checkIndex } from './util.js';

/** Options of {@link lidcPickle}. */
export interface LidcPickleOptions {
  /** Called with the fraction of the file read so far (0..1) while the pickle is parsed; last call is 1. */
  onProgress?: (fraction: number) => void;
  /**
   * Leave pixel data on disk and read each sample's bytes in get(i) (memory: a few hundred bytes per
   * entry instead of the data's size). Shapes and dtypes are still checked up front; pixel values are
   * checked when a sample is read. Default false: everything is read and validated up front, and memory
   * is about the data's own size (float32 images, uint8 masks) — except for protocol-2 files, whose
   * arrays are pickled as latin-1 text that the pickle memo keeps until parsing ends (a few times the
   * data's size at peak): prefer lazy mode for large protocol-2 files.
   */
  lazy?: boolean;
  /** Expected number of annotations per entry; default: the first entry's count (all must agree). */
  raters?: number;
  /** Size of the file read window in bytes (default 4 MiB; at least 4096). */
  bufferSize?: number;
  /** Reject images with values outside [0,1] (default true). */
  checkRange?: boolean;
  /**
   * How intensities reach the encoder: 'minmax' (default; each crop stretched over its own min..max by the
   * model) or 'reference' (⌊255·x⌋ as 8-bit data, normalised with SAM's ImageNet mean/std, as the
   * reference's pipeline did; see lidc-intensity.ts).
   */
  intensity?: LidcIntensity;
  /** 'reference' sets intensity 'reference' (unless intensity is given). */
  protocol?: 'reference';
}

interface ArrayRef {
  layout: NdArray;
  /** Decoded data (eager), or where the raw bytes are (lazy). */
  data: Float32Array | Uint8Array | LazyBytes;
}

interface Entry {
  id: string;
  group: string;
  height: number;
  width: number;
  image: ArrayRef;
  /** One ref per mask (list layout), or one K×H×W ref. */
  masks: ArrayRef[];
  stacked: boolean;
}

/** The LIDC-IDRI pickle's entries (see {@link lidcPickle}), in the dict's order. */
export class LidcPickleDataset implements Dataset {
  /** Always `'lidc'`. */
  readonly name = 'lidc';
  /** K, the annotations of every entry (all entries must agree). */
  readonly raters: number;
  /** Every entry's dict key, in the dict's order. */
  readonly ids: readonly string[];
  /** Every entry's `series_uid`: slices of one series share a group. */
  readonly groups: readonly string[];
  /** The pickle file, as a path. */
  readonly path: string;
  private readonly entries: Entry[];
  private readonly checkRange: boolean;
  /** The intensity mapping in effect ('minmax' or 'reference'). */
  readonly intensity: LidcIntensity;

  /** @internal */
  constructor(path: string, entries: Entry[], raters: number, checkRange: boolean, intensity: LidcIntensity = 'minmax') {
    this.path = path;
    this.intensity = intensity;
    this.entries = entries;
    this.raters = raters;
    this.checkRange = checkRange;
    this.ids = entries.map((e) => e.id);
    this.groups = entries.map((e) => e.group);
  }

  /** The number of entries. */
  get length(): number {
    return this.entries.length;
  }

  /**
   * Entry `i` as a Sample: synchronously for an eager dataset, as a promise in lazy mode (which reads the
   * entry's bytes from the file). Eager datasets return a Sample whose arrays are shared with the dataset:
   * treat them as read-only.
   */
  get(i: number): Sample | Promise<Sample> {
    checkIndex(this, i);
    const e = this.entries[i]!;
    if (e.image.data instanceof LazyBytes || e.masks.some((m) => m.data instanceof LazyBytes)) {
      return this.readLazy(e).then((sample) => withIntensity(sample, this.intensity));
    }
    return withIntensity(buildSample(this.path, e, this.raters, false), this.intensity);
  }

  private async readLazy(e: Entry): Promise<Sample> {
    const refs = [e.image, ...e.masks];
    const lazies = refs.map((r) => r.data).filter((d): d is LazyBytes => d instanceof LazyBytes);
    const lo = Math.min(...lazies.map((d) => d.offset));
    const hi = Math.max(...lazies.map((d) => d.offset + d.length));
    let span: Uint8Array;
    let fh;
    try {
      fh = await open(this.path, 'r');
      span = new Uint8Array(hi - lo);
      let got = 0;
      while (got < span.length) {
        const { bytesRead } = await fh.read(span, got, span.length - got, lo + got);
        if (bytesRead === 0) throw new DataError(`${this.path}: entry '${e.id}': file shrank since it was indexed`, 'ERR_IO');
        got += bytesRead;
      }
    } catch (error) {
      throw ioError(this.path, error);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    const resolve = (r: ArrayRef, what: string): ArrayRef => {
      if (!(r.data instanceof LazyBytes)) return r;
      let raw: Uint8Array = span.slice(r.data.offset - lo, r.data.offset - lo + r.data.length);
      if (r.data.encoding === 'utf8-latin1') {
        try {
          raw = utf8ToLatin1(raw);
        } catch (error) {
          throw bad(this.path, e.id, what, (error as Error).message);
        }
      }
      return { layout: r.layout, data: decodeArray(this.path, e.id, what, r.layout, raw) };
    };
    const full: Entry = {
      ...e,
      image: resolve(e.image, 'image'),
      masks: e.masks.map((m, k) => resolve(m, e.stacked ? 'masks' : `masks[${k}]`)),
    };
    const sample = buildSample(this.path, full, this.raters, true);
    if (this.checkRange) checkImageRange(this.path, e.id, sample.image.data as Float32Array);
    return sample;
  }
}

function bad(path: string, id: string, field: string, message: string): DataError {
  return new DataError(`${path}: entry '${id}': '${field}' ${message}`, 'ERR_DATA');
}

/** Decodes raw numpy bytes: floats → Float32Array, 1-byte ints/bools → Uint8Array, other ints → Uint8Array
 * when they fit, else Float32Array (then rejected as a mask by validation). */
function decodeArray(path: string, id: string, field: string, nd: NdArray, raw: Uint8Array): Float32Array | Uint8Array {
  try {
    if (nd.dtype.kind === 'f') return toFloat32(nd, raw);
    const u8 = toUint8(nd, raw);
    return u8 ?? Float32Array.from(toFloat64(nd, raw));
  } catch (error) {
    throw bad(path, id, field, (error as Error).message);
  }
}

function checkImageRange(path: string, id: string, img: Float32Array): void {
  for (let i = 0; i < img.length; i++) {
    const v = img[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw bad(path, id, 'image', `has value ${v} at pixel ${i}, outside [0,1] (pass checkRange: false to allow)`);
    }
  }
}

function buildSample(path: string, e: Entry, raters: number, validate: boolean): Sample {
  const n = e.height * e.width;
  const labels: Uint8Array[] = [];
  const masks = e.masks;
  const take = (data: Float32Array | Uint8Array, field: string, off: number): Uint8Array => {
    if (data instanceof Uint8Array) {
      const m = data.subarray(off, off + n);
      if (validate) {
        for (let i = 0; i < n; i++) if (m[i]! > 1) throw bad(path, e.id, field, `has value ${m[i]} at pixel ${i}: masks must be 0/1`);
      }
      return m;
    }
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = data[off + i]!;
      if (v !== 0 && v !== 1) throw bad(path, e.id, field, `has value ${v} at pixel ${i}: masks must be 0/1`);
      m[i] = v;
    }
    return m;
  };
  if (e.stacked) {
    const data = masks[0]!.data as Float32Array | Uint8Array;
    for (let k = 0; k < raters; k++) labels.push(take(data, `masks[${k}]`, k * n));
  } else {
    masks.forEach((m, k) => labels.push(take(m.data as Float32Array | Uint8Array, `masks[${k}]`, 0)));
  }
  return {
    id: e.id,
    group: e.group,
    image: { data: e.image.data as Float32Array, width: e.width, height: e.height, channels: 1 },
    labels,
  };
}

/** Squeezes singleton axes around a 2-D image: H×W, 1×H×W and H×W×1 are all H×W. */
function plane(shape: readonly number[]): [number, number] | null {
  const s = shape.filter((d, i) => !(d === 1 && shape.length > 2 && (i === 0 || i === shape.length - 1)));
  return s.length === 2 ? [s[0]!, s[1]!] : null;
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v instanceof BigStr && !(v.utf8 instanceof LazyBytes)) return v.toString();
  return null;
}

/**
 * Opens the LIDC-IDRI pickle of the Probabilistic U-Net (protocols 2–5, float32/float64 images, masks as a
 * list of arrays or one K×H×W array). Files of any size are streamed through a 4 MiB window.
 * Samples come in the dict's order; id = dict key, group = series_uid, image = Float32Array (channels 1).
 */
export async function lidcPickle(path: string | FileUrl, options: LidcPickleOptions = {}): Promise<LidcPickleDataset> {
  const file = toPath(path, 'lidcPickle path');
  if (options.raters !== undefined && !(Number.isInteger(options.raters) && options.raters > 0)) {
    throw new DataError(`lidcPickle(${file}): option raters must be a positive integer, got ${String(options.raters)}`, 'ERR_ARGUMENT');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new DataError(`lidcPickle(${file}): option onProgress must be a function`, 'ERR_ARGUMENT');
  }
  const lazy = options.lazy === true;
  const checkRange = options.checkRange !== false;
  if (options.protocol !== undefined && options.protocol !== 'reference') {
    throw new DataError(`lidcPickle(${file}): option protocol must be 'reference', got ${JSON.stringify(options.protocol)}`, 'ERR_ARGUMENT');
  }
  const intensity = checkLidcIntensity(`lidcPickle(${file})`, options.intensity ?? (options.protocol === 'reference' ? 'reference' : undefined));

  const root = await unpickleFile(file, {
    onProgress: options.onProgress,
    lazy,
    windowSize: options.bufferSize,
    // Decode each array as soon as it is complete, so a float64 image's raw bytes are dropped at once.
    onArray: lazy
      ? undefined
      : (nd) => {
          if (!(nd.data instanceof Uint8Array)) return;
          try {
            checkLayout(nd, nd.data.byteLength);
          } catch {
            return; // left for the entry's validation, which names the entry
          }
          nd.value = nd.dtype.kind === 'f' ? toFloat32(nd, nd.data) : (toUint8(nd, nd.data) ?? undefined);
          if (nd.value !== undefined) nd.data = null;
        },
  });

  if (!(root instanceof Map)) {
    throw new DataError(`${file}: the pickle holds ${describe(root)}, expected a dict {key: {'image', 'masks', 'series_uid'}}`, 'ERR_DATA');
  }
  if (root.size === 0) throw new DataError(`${file}: the pickled dict is empty`, 'ERR_DATA');

  const entries: Entry[] = [];
  let raters = options.raters ?? 0;
  let firstWithRaters = '';
  for (const [rawKey, value] of root) {
    const id = str(rawKey) ?? (typeof rawKey === 'number' ? String(rawKey) : null);
    if (id === null) throw new DataError(`${file}: entry #${entries.length}: key is ${describe(rawKey)}, expected a str`, 'ERR_DATA');
    if (!(value instanceof Map)) throw new DataError(`${file}: entry '${id}': value is ${describe(value)}, expected a dict`, 'ERR_DATA');
    for (const field of ['image', 'masks', 'series_uid']) {
      if (!value.has(field)) throw bad(file, id, field, 'is missing');
    }
    const group = str(value.get('series_uid'));
    if (group === null || group === '') throw bad(file, id, 'series_uid', `is ${describe(value.get('series_uid'))}, expected a non-empty str`);

    const ref = (v: unknown, field: string): ArrayRef => {
      if (!(v instanceof NdArray)) throw bad(file, id, field, `is ${describe(v)}, expected a numpy array`);
      if (v.value instanceof Float32Array || v.value instanceof Uint8Array) return { layout: v, data: v.value };
      if (v.data instanceof LazyBytes) {
        if (v.data.encoding === 'raw') {
          try {
            checkLayout(v, v.data.length);
          } catch (error) {
            throw bad(file, id, field, (error as Error).message);
          }
        }
        return { layout: v, data: v.data };
      }
      if (v.data instanceof Uint8Array) return { layout: v, data: decodeArray(file, id, field, v, v.data) };
      throw bad(file, id, field, 'has no data');
    };

    const image = ref(value.get('image'), 'image');
    if (image.layout.dtype.kind !== 'f') throw bad(file, id, 'image', `has dtype ${image.layout.dtype.str}, expected float32 or float64`);
    const hw = plane(image.layout.shape);
    if (!hw || hw[0] === 0 || hw[1] === 0) throw bad(file, id, 'image', `has shape ${image.layout.shape.join('×')}, expected H×W`);
    const [height, width] = hw;

    const masksValue = value.get('masks');
    let masks: ArrayRef[];
    let stacked: boolean;
    let k: number;
    if (Array.isArray(masksValue)) {
      stacked = false;
      masks = masksValue.map((m, j) => ref(m, `masks[${j}]`));
      masks.forEach((m, j) => {
        const mhw = plane(m.layout.shape);
        if (!mhw || mhw[0] !== height || mhw[1] !== width) {
          throw bad(file, id, `masks[${j}]`, `has shape ${m.layout.shape.join('×')}, expected ${height}×${width} like the image`);
        }
      });
      k = masks.length;
    } else {
      stacked = true;
      const m = ref(masksValue, 'masks');
      const s = m.layout.shape;
      if (s.length !== 3 || s[1] !== height || s[2] !== width) {
        throw bad(file, id, 'masks', `has shape ${s.join('×')}, expected K×${height}×${width} (or a list of ${height}×${width} arrays)`);
      }
      masks = [m];
      k = s[0]!;
    }
    if (k === 0) throw bad(file, id, 'masks', 'is empty');
    if (raters === 0) {
      raters = k;
      firstWithRaters = id;
    } else if (k !== raters) {
      const why = options.raters !== undefined ? `option raters = ${raters}` : `entry '${firstWithRaters}' has ${raters}`;
      throw bad(file, id, 'masks', `has ${k} annotations, but ${why}`);
    }

    const entry: Entry = { id, group, height, width, image, masks, stacked };
    if (!lazy) {
      // Validate values now; the sample's arrays are built once here and kept.
      const sample = buildSample(file, entry, raters, true);
      if (checkRange) checkImageRange(file, id, sample.image.data as Float32Array);
    }
    entries.push(entry);
  }
  return new LidcPickleDataset(file, entries, raters, checkRange, intensity);
}
