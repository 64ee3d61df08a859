// Decoding numpy array bytes (any simple numeric dtype, either byte order, C or Fortran order) into
// row-major JS typed arrays, with as few copies as possible.

import { readScalar, type NpDtype } from './pickle.js';

export interface ArrayLayout {
  dtype: NpDtype;
  shape: readonly number[];
  fortran: boolean;
}

const NUMERIC = new Set(['f2', 'f4', 'f8', 'u1', 'b1', 'i1', 'u2', 'i2', 'u4', 'i4', 'u8', 'i8']);

/** Throws (plain Error; callers wrap it with file and entry) when the bytes cannot hold the array. */
export function checkLayout(a: ArrayLayout, byteLength: number): void {
  const { kind, itemsize } = a.dtype;
  if (!NUMERIC.has(kind + itemsize)) throw new Error(`unsupported dtype ${a.dtype.str}`);
  const size = a.shape.reduce((x, y) => x * y, 1);
  if (byteLength !== size * itemsize) {
    throw new Error(`data has ${byteLength} bytes, shape ${a.shape.join('×')} of ${a.dtype.str} needs ${size * itemsize}`);
  }
}

/** Flat index in the stored buffer of the element at C-order index i (identity unless Fortran order). */
function sourceIndexer(shape: readonly number[], fortran: boolean): ((i: number) => number) | null {
  if (!fortran || shape.length < 2) return null;
  const n = shape.length;
  const fstride: number[] = new Array<number>(n);
  let s = 1;
  for (let k = 0; k < n; k++) {
    fstride[k] = s;
    s *= shape[k]!;
  }
  return (i: number) => {
    let off = 0;
    for (let k = n - 1; k >= 0; k--) {
      const d = shape[k]!;
      off += (i % d) * fstride[k]!;
      i = Math.floor(i / d);
    }
    return off;
  };
}

/** The array's values in C order as float32. Reuses `bytes`' memory when it is already little-endian f4. */
export function toFloat32(a: ArrayLayout, bytes: Uint8Array): Float32Array {
  checkLayout(a, bytes.byteLength);
  const { kind, itemsize } = a.dtype;
  const little = a.dtype.byteorder !== '>';
  const idx = sourceIndexer(a.shape, a.fortran);
  const n = bytes.byteLength / itemsize;
  if (kind === 'f' && itemsize === 4 && little && !idx) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    return new Float32Array(bytes.slice().buffer, 0, n);
  }
  const out = new Float32Array(n);
  if (kind === 'f' && itemsize === 8 && little && !idx && bytes.byteOffset % 8 === 0) {
    out.set(new Float64Array(bytes.buffer, bytes.byteOffset, n));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = readScalar(view, (idx ? idx(i) : i) * itemsize, kind, itemsize, little);
  return out;
}

/** The array's values in C order as float64 (for validation of masks of any dtype). */
export function toFloat64(a: ArrayLayout, bytes: Uint8Array): Float64Array {
  checkLayout(a, bytes.byteLength);
  const { kind, itemsize } = a.dtype;
  const little = a.dtype.byteorder !== '>';
  const idx = sourceIndexer(a.shape, a.fortran);
  const n = bytes.byteLength / itemsize;
  const out = new Float64Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = readScalar(view, (idx ? idx(i) : i) * itemsize, kind, itemsize, little);
  return out;
}

/** The array's values in C order as uint8, for 1-byte integer/bool dtypes (a view when already C order);
 * other dtypes go through float64 and must hold integers in 0..255. Returns null when they do not. */
export function toUint8(a: ArrayLayout, bytes: Uint8Array): Uint8Array | null {
  checkLayout(a, bytes.byteLength);
  const { kind, itemsize } = a.dtype;
  const idx = sourceIndexer(a.shape, a.fortran);
  if ((kind === 'u' || kind === 'b') && itemsize === 1) {
    if (!idx) return bytes;
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < out.length; i++) out[i] = bytes[idx(i)]!;
    return out;
  }
  const f = toFloat64(a, bytes);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const v = f[i]!;
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) return null;
    out[i] = v;
  }
  return out;
}
