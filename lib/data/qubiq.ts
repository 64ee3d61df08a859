// QUBIQ (MICCAI 2020/21 "Quantification of Uncertainties in Biomedical Image Quantification") layout, as
// the release the reference reads unpacks (folders training_data_v2 and validation_data_v2):
//   <root>/training_data_v2/<organ>/Training/caseNN/{image.nii.gz, task01_seg01.nii.gz, …}
//   <root>/validation_data_v2/<organ>/Validation/caseNN/…
// Images are 2-D (or 3-D with one slice). Orientation follows nibabel's get_fdata(): array axis 0 (the
// image row) is NIfTI's x (dim[1]), axis 1 (the column) is y — so the stored x-fastest data is transposed
// into a row-major height×width image with height = dim[1], width = dim[2].

import type { FileUrl } from '../platform-types.js';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { DataError, ioError } from './errors.js';
import { readNifti, type NiftiVolume } from './nifti.js';
import { referenceQubiqImage, referenceQubiqLabel } from './qubiq-reference.js';
import { type Dataset, type Sample } from './types.js';
import { checkIndex, naturalCompare, toPath } from './util.js';

/** Options of {@link qubiq}. */
export interface QubiqOptions {
  /** Which release folder to read (required): `training_data_v2/<organ>/Training` or `validation_data_v2/<organ>/Validation`. */
  split: 'training' | 'validation';
  /**
   * Intensity window [lo, hi] (finite, lo < hi): values are clipped to it and scaled to [0,1]. Default:
   * per-image min–max scaling to [0,1].
   */
  window?: [number, number];
  /**
   * 'native' (default): intensities as `window` says, at the native size, labels thresholded at 0.5.
   * 'reference': the reference's preprocessing (see qubiq-reference.ts): shift by |min|, 256·x/max cast to
   * 8 bits (the maximum wraps to 0), Pillow-bicubic resize to 256×256; labels resized bicubically and
   * thresholded at > 0. `window` does not apply.
   */
  preprocessing?: 'native' | 'reference';
  /** 'reference' sets preprocessing 'reference' (unless preprocessing is given). */
  protocol?: 'reference';
  /** Sub-dataset folder (default 'kidney'; QUBIQ also has 'prostate', 'brain-growth', 'brain-tumor', 'pancreas', …). */
  organ?: string;
  /** Task number whose segmentations to load (default 1 → task01_segNN). */
  task?: number;
}

interface Case {
  id: string;
  dir: string;
  image: string;
  segs: string[];
}

/**
 * The cases of one QUBIQ organ and split (see {@link qubiq}). Images are one channel: float32 in [0,1]
 * with preprocessing 'native', 8-bit at 256×256 with 'reference'.
 */
export class QubiqDataset implements Dataset {
  /** `qubiq-<organ>-<split>`. */
  readonly name: string;
  /** K, the annotators of every case (task01_seg01…segK). */
  readonly raters: number;
  /** The case folders' names (caseNN), in natural order. */
  readonly ids: readonly string[];
  /** One group per case: the case's id. */
  readonly groups: readonly string[];
  /** The folder the cases were listed from. */
  readonly dir: string;
  private readonly cases: Case[];
  private readonly window: [number, number] | undefined;
  /** The preprocessing in effect ('native' or 'reference'). */
  readonly preprocessing: 'native' | 'reference';

  /** @internal */
  constructor(name: string, dir: string, cases: Case[], raters: number, window: [number, number] | undefined, preprocessing: 'native' | 'reference' = 'native') {
    this.name = name;
    this.preprocessing = preprocessing;
    this.dir = dir;
    this.cases = cases;
    this.raters = raters;
    this.window = window;
    this.ids = cases.map((c) => c.id);
    this.groups = this.ids;
  }

  /** The number of cases. */
  get length(): number {
    return this.cases.length;
  }

  /** Reads case `i`'s image and K segmentations (values must lie in [0,1]; `ERR_DATA` naming the pixel otherwise). */
  async get(i: number): Promise<Sample> {
    checkIndex(this, i);
    const c = this.cases[i]!;
    const [image, ...segs] = await Promise.all([readNifti(c.image), ...c.segs.map((s) => readNifti(s))]);
    const [height, width] = planeShape(c.image, image!);
    const pixels = toRows(image!.values, height, width);
    for (let p = 0; p < pixels.length; p++) {
      if (!Number.isFinite(pixels[p]!)) {
        throw new DataError(`${c.image}: pixel ${p} (row ${Math.floor(p / width)}, column ${p % width}) is ${pixels[p]}`, 'ERR_DATA');
      }
    }
    const labels = segs.map((seg, k) => {
      const file = c.segs[k]!;
      const [h, w] = planeShape(file, seg);
      if (h !== height || w !== width) {
        throw new DataError(`${file}: segmentation is ${h}×${w} but ${c.image} is ${height}×${width}`, 'ERR_DATA');
      }
      const values = toRows(seg.values, h, w);
      const mask = new Uint8Array(values.length);
      for (let p = 0; p < values.length; p++) {
        const v = values[p]!;
        if (!(v >= -1e-6 && v <= 1 + 1e-6)) {
          throw new DataError(`${file}: value ${v} at pixel ${p} (row ${Math.floor(p / w)}, column ${p % w}) is outside [0,1]`, 'ERR_DATA');
        }
        mask[p] = v > 0.5 ? 1 : 0;
      }
      return this.preprocessing === 'reference' ? referenceQubiqLabel(values, w, h) : mask;
    });
    if (this.preprocessing === 'reference') return { id: c.id, group: c.id, image: referenceQubiqImage(pixels, width, height), labels };
    return {
      id: c.id,
      group: c.id,
      image: { data: normalise(pixels, this.window), width, height, channels: 1 },
      labels,
    };
  }
}

/** H×W of a 2-D volume, or of a 3-D+ volume whose extra dims are all 1. */
function planeShape(file: string, v: NiftiVolume): [number, number] {
  const d = v.dims;
  if (d.length < 2 || d.slice(2).some((x) => x !== 1)) {
    throw new DataError(`${file}: NIfTI dim is ${d.join('×')}; expected a 2-D image (or 3-D with one slice)`, 'ERR_DATA');
  }
  return [d[0]!, d[1]!];
}

/** x-fastest storage (value of row r, column c at r + c·H) → row-major (r·W + c). */
function toRows(values: Float64Array, height: number, width: number): Float64Array {
  const out = new Float64Array(height * width);
  for (let c = 0; c < width; c++) {
    const base = c * height;
    for (let r = 0; r < height; r++) out[r * width + c] = values[base + r]!;
  }
  return out;
}

function normalise(pixels: Float64Array, window: [number, number] | undefined): Float32Array {
  let lo: number;
  let hi: number;
  if (window) [lo, hi] = window;
  else {
    lo = Infinity;
    hi = -Infinity;
    for (const v of pixels) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const out = new Float32Array(pixels.length);
  const span = hi - lo;
  if (!(span > 0)) return out; // a constant image scales to all zeros
  for (let i = 0; i < pixels.length; i++) {
    const v = Math.min(hi, Math.max(lo, pixels[i]!));
    out[i] = (v - lo) / span;
  }
  return out;
}

async function listDir(dir: string, what: string): Promise<string[]> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new DataError(`${dir}: ${what} is not a directory`, 'ERR_IO');
    return await readdir(dir);
  } catch (error) {
    throw ioError(dir, error, `cannot read ${what}`);
  }
}

/**
 * Lists the cases of a QUBIQ split under `root`, the folder holding `training_data_v2` and
 * `validation_data_v2` (`<split>_data_v2/<organ>/{Training|Validation}/caseNN/{image.nii.gz,
 * task01_seg01.nii.gz, …}`). Files are read in get(i). The number of annotators is taken from the
 * files present (task01_seg01…segNN) and must be the same, and numbered 1..N, in every case.
 */
export async function qubiq(root: string | FileUrl, options: QubiqOptions): Promise<QubiqDataset> {
  const base = toPath(root, 'qubiq root');
  const split = options?.split;
  if (split !== 'training' && split !== 'validation') {
    throw new DataError(`qubiq(${base}): option split must be 'training' or 'validation', got ${JSON.stringify(split)}`, 'ERR_ARGUMENT');
  }
  const window = options.window;
  if (window !== undefined) {
    if (!Array.isArray(window) || window.length !== 2 || !window.every(Number.isFinite) || !(window[0] < window[1])) {
      throw new DataError(`qubiq(${base}): option window must be [lo, hi] with finite lo < hi, got ${JSON.stringify(window)}`, 'ERR_ARGUMENT');
    }
  }
  if (options.protocol !== undefined && options.protocol !== 'reference') {
    throw new DataError(`qubiq(${base}): option protocol must be 'reference', got ${JSON.stringify(options.protocol)}`, 'ERR_ARGUMENT');
  }
  const preprocessing = options.preprocessing ?? (options.protocol === 'reference' ? 'reference' : 'native');
  if (preprocessing !== 'native' && preprocessing !== 'reference') {
    throw new DataError(`qubiq(${base}): option preprocessing must be 'native' or 'reference', got ${JSON.stringify(preprocessing)}`, 'ERR_ARGUMENT');
  }
  const organ = options.organ ?? 'kidney';
  if (typeof organ !== 'string' || organ === '' || /[\\/]/.test(organ)) {
    throw new DataError(`qubiq(${base}): option organ must be a folder name, got ${JSON.stringify(organ)}`, 'ERR_ARGUMENT');
  }
  const task = options.task ?? 1;
  if (!Number.isInteger(task) || task < 1) {
    throw new DataError(`qubiq(${base}): option task must be a positive integer, got ${String(task)}`, 'ERR_ARGUMENT');
  }

  const dir = join(base, `${split}_data_v2`, organ, split === 'training' ? 'Training' : 'Validation');
  const names = (await listDir(dir, `the QUBIQ ${split} folder`)).filter((n) => /^case\d+$/i.test(n)).sort(naturalCompare);
  const taskTag = `task${String(task).padStart(2, '0')}`;
  const segPattern = new RegExp(`^${taskTag}_seg(\\d+)\\.nii(\\.gz)?$`, 'i');
  const cases: Case[] = [];
  let raters = 0;
  for (const id of names) {
    const caseDir = join(dir, id);
    const st = await stat(caseDir).catch((error: unknown) => {
      throw ioError(caseDir, error);
    });
    if (!st.isDirectory()) continue;
    const files = await listDir(caseDir, 'case folder');
    const image = files.find((f) => /^image\.nii(\.gz)?$/i.test(f));
    if (!image) throw new DataError(`${caseDir}: no image.nii.gz in this case folder`, 'ERR_IO');
    const segs = new Map<number, string>();
    for (const f of files) {
      const m = segPattern.exec(f);
      if (!m) continue;
      const n = Number(m[1]);
      if (segs.has(n)) throw new DataError(`${caseDir}: two files for annotator ${n} (${segs.get(n)}, ${f})`, 'ERR_DATA');
      segs.set(n, f);
    }
    if (segs.size === 0) throw new DataError(`${caseDir}: no ${taskTag}_segNN.nii.gz annotation files`, 'ERR_IO');
    for (let k = 1; k <= segs.size; k++) {
      if (!segs.has(k)) {
        throw new DataError(`${caseDir}: annotation files are not numbered 1..${segs.size} (${taskTag}_seg${String(k).padStart(2, '0')} is missing)`, 'ERR_DATA');
      }
    }
    if (raters === 0) raters = segs.size;
    else if (segs.size !== raters) {
      throw new DataError(`${caseDir}: has ${segs.size} annotations, but ${cases[0]!.id} has ${raters}`, 'ERR_DATA');
    }
    const ordered = [...segs.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => join(caseDir, f));
    cases.push({ id, dir: caseDir, image: join(caseDir, image), segs: ordered });
  }
  if (cases.length === 0) throw new DataError(`${dir}: no caseNN folders`, 'ERR_DATA');
  return new QubiqDataset(`qubiq-${organ}-${split}`, dir, cases, raters, window ? [window[0], window[1]] : undefined, preprocessing);
}
