// The safetensors format: an 8-byte little-endian header length, a JSON header, then raw bytes.
// The header is validated here (a lying header is an error, not a crash); native code reads and
// writes the bytes, off the JS thread.
import { open, stat } from 'node:fs/promises';

import { SeqsamError, nativeCall } from '../errors.js';
import { addon, type SafetensorsEntry } from '../native.js';
import { type DType, type NamedTensors, Tensor, wrapNamed } from '../tensor.js';
import { removeStaleTemps } from './stale-temp.js';

const bytesPerElement: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

const toSafetensorsDtype: Record<DType, string> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

// Headers larger than this are not model checkpoints; refuse before allocating.
const maxHeaderBytes = 100 * 1024 * 1024;

/** A safetensors file's validated header (see {@link readSafetensorsHeader}). */
export interface SafetensorsHeader {
  /** Byte offset of the data section in the file (8 + the JSON header's length). */
  dataStart: number;
  /** Every tensor's name, dtype, shape and byte range, in the header's order. */
  entries: SafetensorsEntry[];
  /** The `__metadata__` string map (empty when the file has none). */
  metadata: Record<string, string>;
}

function bad(path: string, message: string): never {
  throw new SeqsamError('ERR_CHECKPOINT', `${path}: ${message}`);
}

/**
 * Reads and validates a safetensors file's header without reading any tensor: dtypes, shapes and byte
 * ranges are checked against the file (`ERR_CHECKPOINT` naming the tensor at fault; `ERR_IO` when the file
 * cannot be read).
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  let fileSize: number;
  try {
    fileSize = (await stat(path)).size;
  } catch (error) {
    throw new SeqsamError('ERR_IO', `${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (fileSize < 8) bad(path, `not a safetensors file (${fileSize} bytes, shorter than the 8-byte header length)`);
  const file = await open(path, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    await file.read(lengthBytes, 0, 8, 0);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(Math.min(fileSize - 8, maxHeaderBytes))) {
      bad(path, `header length ${headerLength} exceeds the file (${fileSize} bytes): truncated or not safetensors`);
    }
    const headerBytes = Buffer.alloc(Number(headerLength));
    await file.read(headerBytes, 0, headerBytes.length, 8);
    let json: unknown;
    try {
      json = JSON.parse(headerBytes.toString('utf8'));
    } catch (error) {
      bad(path, `header is not valid JSON (${(error as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(path, 'header is not a JSON object');
    const dataStart = 8 + headerBytes.length;
    return { dataStart, ...parseEntries(path, json as Record<string, unknown>, fileSize - dataStart) };
  } finally {
    await file.close();
  }
}

function parseEntries(path: string, header: Record<string, unknown>, dataSize: number) {
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Object.values(value).some((v) => typeof v !== 'string')) {
        bad(path, '__metadata__ must map strings to strings');
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const field = `tensor '${name}'`;
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) bad(path, `${field} is not an object`);
    if (typeof info.dtype !== 'string' || !(info.dtype in bytesPerElement)) bad(path, `${field}: unsupported dtype ${JSON.stringify(info.dtype)}`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(path, `${field}: shape must be a list of non-negative integers`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      bad(path, `${field}: data_offsets must be [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataSize) bad(path, `${field}: data_offsets [${begin}, ${end}] fall outside the ${dataSize}-byte data section`);
    const shape = info.shape as number[];
    // Sizes past 2^53 are not exact in JS (and no file holds them), even when a zero makes the product 0.
    if (shape.filter((d) => d > 0).reduce((a, b) => a * b, 1) * bytesPerElement[info.dtype] > Number.MAX_SAFE_INTEGER) bad(path, `${field}: shape [${shape.join(', ')}] is too large`);
    const expected = shape.reduce((a, b) => a * b, 1) * bytesPerElement[info.dtype];
    if (end - begin !== expected) bad(path, `${field}: ${end - begin} bytes stored but ${info.dtype}[${shape.join(', ')}] needs ${expected}`);
    entries.push({ name, dtype: info.dtype, shape, begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) bad(path, `tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  }
  return { entries, metadata };
}

/** Options of {@link readSafetensors}. */
export interface ReadOptions {
  /** Only these tensors (all when omitted); a name the file lacks is an `ERR_CHECKPOINT` error. */
  names?: readonly string[];
}

/**
 * Reads a safetensors file into CPU tensors (off the JS thread) with its `__metadata__` map. The header is
 * validated first: a truncated or lying file is an `ERR_CHECKPOINT` error, not a crash.
 */
export async function readSafetensors(path: string, options: ReadOptions = {}): Promise<{ tensors: NamedTensors; metadata: Record<string, string> }> {
  const header = await readSafetensorsHeader(path);
  let entries = header.entries;
  if (options.names) {
    const wanted = new Set(options.names);
    const missing = [...wanted].filter((n) => !entries.some((e) => e.name === n));
    if (missing.length) bad(path, `no tensor named ${missing.map((m) => `'${m}'`).join(', ')}`);
    entries = entries.filter((e) => wanted.has(e.name));
  }
  const native = await nativeCall(() => addon().readSafetensors(path, header.dataStart, entries));
  return { tensors: wrapNamed(native), metadata: header.metadata };
}

/**
 * Writes tensors (any device; copied to CPU natively) with a metadata map of strings, atomically: a crash
 * mid-write leaves the previous file intact. The name `__metadata__` is reserved.
 */
export async function writeSafetensors(path: string, tensors: NamedTensors | Map<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // No prototype: a tensor named '__proto__' is a header entry like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SeqsamError('ERR_ARGUMENT', `writeSafetensors: metadata '${k}' must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, tensor] of list) {
    if (name === '__metadata__') throw new SeqsamError('ERR_ARGUMENT', "writeSafetensors: '__metadata__' is reserved");
    const dtype = toSafetensorsDtype[tensor.dtype];
    const bytes = tensor.byteLength;
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const handles = list.map(([, t]) => t.handle);
  await removeStaleTemps(path);
  await nativeCall(() => addon().writeSafetensors(path, JSON.stringify(header), handles));
}
