// NIfTI-1/-2 reading (optionally gzip-compressed) on top of nifti-reader-js for the header, with Node's
// zlib for decompression and our own typed voxel decoding (every numeric dtype, either byte order).

import type { FileUrl } from '../platform-types.js';
import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

import * as nifti from 'nifti-reader-js';

import { DataError, ioError } from './errors.js';
import { toPath } from './util.js';

const gunzipAsync = promisify(gunzip);

/** A NIfTI file's voxels (see {@link readNifti}). */
export interface NiftiVolume {
  /** Sizes of the dimensions actually present (dim[1..dim[0]]); dim 1 (x) varies fastest in `values`. */
  dims: number[];
  /** Voxel values after scl_slope / scl_inter, in file order (x fastest). */
  values: Float64Array;
  /** Data type name, e.g. 'float32'. */
  datatype: string;
}

const TYPES: Record<number, { name: string; bytes: number; get: (v: DataView, o: number, le: boolean) => number }> = {
  2: { name: 'uint8', bytes: 1, get: (v, o) => v.getUint8(o) },
  4: { name: 'int16', bytes: 2, get: (v, o, le) => v.getInt16(o, le) },
  8: { name: 'int32', bytes: 4, get: (v, o, le) => v.getInt32(o, le) },
  16: { name: 'float32', bytes: 4, get: (v, o, le) => v.getFloat32(o, le) },
  64: { name: 'float64', bytes: 8, get: (v, o, le) => v.getFloat64(o, le) },
  256: { name: 'int8', bytes: 1, get: (v, o) => v.getInt8(o) },
  512: { name: 'uint16', bytes: 2, get: (v, o, le) => v.getUint16(o, le) },
  768: { name: 'uint32', bytes: 4, get: (v, o, le) => v.getUint32(o, le) },
  1024: { name: 'int64', bytes: 8, get: (v, o, le) => Number(v.getBigInt64(o, le)) },
  1280: { name: 'uint64', bytes: 8, get: (v, o, le) => Number(v.getBigUint64(o, le)) },
};

/** Reads a .nii or .nii.gz file. Errors: ERR_IO (missing/unreadable), ERR_DATA (not NIfTI, bad header,
 * unsupported data type, too short). */
export async function readNifti(file: string | FileUrl): Promise<NiftiVolume> {
  const path = toPath(file, 'readNifti path');
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (error) {
    throw ioError(path, error);
  }
  let raw: Uint8Array = buf;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      raw = await gunzipAsync(buf);
    } catch (error) {
      throw new DataError(`${path}: not a valid gzip stream (${(error as Error).message})`, 'ERR_DATA');
    }
  }
  const ab = (raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength
    ? raw.buffer
    : raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)) as ArrayBuffer;
  if (!nifti.isNIFTI1(ab) && !nifti.isNIFTI2(ab)) {
    throw new DataError(`${path}: not a NIfTI file (no 'n+1'/'n+2' magic in a ${raw.byteLength}-byte header)`, 'ERR_DATA');
  }
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(ab);
  } catch (error) {
    throw new DataError(`${path}: unreadable NIfTI header (${(error as Error).message})`, 'ERR_DATA');
  }
  const ndim = header.dims[0]!;
  if (!(ndim >= 1 && ndim <= 7)) throw new DataError(`${path}: NIfTI header field dim[0] = ${ndim} is not in 1..7`, 'ERR_DATA');
  const dims = header.dims.slice(1, 1 + ndim);
  if (!dims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new DataError(`${path}: NIfTI header field dim = [${header.dims.join(', ')}] has non-positive sizes`, 'ERR_DATA');
  }
  const type = TYPES[header.datatypeCode];
  if (!type) {
    throw new DataError(`${path}: NIfTI header field datatype = ${header.datatypeCode} is not a supported scalar type`, 'ERR_DATA');
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = Math.max(0, Math.floor(header.vox_offset));
  if (offset + count * type.bytes > ab.byteLength) {
    throw new DataError(
      `${path}: NIfTI voxel data is truncated: header says ${dims.join('×')} ${type.name} from byte ${offset}, file has ${ab.byteLength} bytes`,
      'ERR_DATA',
    );
  }
  const view = new DataView(ab, offset, count * type.bytes);
  const le = header.littleEndian;
  // As nibabel: a slope of 0 or non-finite means "no scaling" (intercept ignored); otherwise the
  // intercept must be finite.
  const scaled = Number.isFinite(header.scl_slope) && header.scl_slope !== 0;
  const slope = scaled ? header.scl_slope : 1;
  const inter = scaled ? header.scl_inter : 0;
  if (!Number.isFinite(inter)) {
    throw new DataError(`${path}: NIfTI header has scl_slope = ${slope} but scl_inter = ${inter}`, 'ERR_DATA');
  }
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = type.get(view, i * type.bytes, le) * slope + inter;
  return { dims, values, datatype: type.name };
}
