// A compact, streaming unpickler for Python pickle protocols 0–5, written for data files (dicts, lists,
// strings, numbers and numpy arrays). It never executes anything: globals resolve through a whitelist of
// JS handlers (numpy's array/dtype reconstructors, `_codecs.encode`, a few builtins); any other global
// becomes an inert `PyObject` record.
//
// Why not an npm package: the candidates (e.g. `pickleparser`) take the whole file as one Uint8Array
// (Node's fs.readFile stops at 2 GiB, and the LIDC pickle is larger), report no progress, and decode
// protocol-2 byte strings as ASCII/UTF-8 text, which corrupts numpy's latin-1 payloads. This reader pulls
// the file through a fixed-size window, copies each large payload once into its own ArrayBuffer (or, in
// lazy mode, records only its file offset), and reports progress as it goes.

import { open, type FileHandle } from 'node:fs/promises';

import { DataError, ioError } from './errors.js';

// ---------------------------------------------------------------------------------------------------
// Python values as JS values
//   None → null, bool → boolean, int → number (bigint beyond 2^53), float → number, str → string,
//   bytes / bytearray → Uint8Array (own ArrayBuffer, offset 0), list / tuple → Array, dict → Map,
//   set / frozenset → Set, numpy arrays → NdArray, other objects → PyObject.

/** A reference to bytes left on disk (lazy mode). `utf8`: the bytes are the UTF-8 form of a str whose
 * code points are the wanted byte values (protocol-2 numpy data), to be turned into latin-1 on read. */
export class LazyBytes {
  constructor(
    /** Where the bytes start in the file. */
    readonly offset: number,
    /** How many bytes. */
    readonly length: number,
    /** `'raw'`: the bytes themselves; `'utf8-latin1'`: to be turned from UTF-8 into latin-1 on read. */
    readonly encoding: 'raw' | 'utf8-latin1' = 'raw',
  ) {}
}

/** A str too large to be worth decoding eagerly; kept as its UTF-8 bytes (or their place on disk). */
export class BigStr {
  /** @param utf8 The str's UTF-8 bytes, or where they are on disk. */
  constructor(readonly utf8: Uint8Array | LazyBytes) {}
  /** The decoded str; throws when its bytes were left on disk (lazy mode). */
  toString(): string {
    if (this.utf8 instanceof LazyBytes) throw new Error('string data was left on disk (lazy mode)');
    return utf8Decoder.decode(this.utf8);
  }
}

/** A global (class or function) that is not on the whitelist. */
export class PyGlobal {
  constructor(
    /** The Python module, e.g. `collections`. */
    readonly module: string,
    /** The class or function name within the module. */
    readonly name: string,
  ) {}
  /** `module.name`. */
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a non-whitelisted class: what was passed to its constructor and its state. */
export class PyObject {
  /** What `__setstate__` / BUILD gave it (undefined when none). */
  state: unknown = undefined;
  constructor(
    /** Its class. */
    readonly cls: PyGlobal,
    /** The arguments its constructor was called with. */
    readonly args: unknown[],
  ) {}
}

/** A numpy dtype (simple, non-structured types only). */
export class NpDtype {
  /** '<' little, '>' big, '|' not applicable. */
  byteorder: '<' | '>' | '|';
  /** numpy's kind character: 'f' float, 'i' signed, 'u' unsigned, 'b' bool, ... */
  readonly kind: string;
  /** Bytes per element. */
  readonly itemsize: number;
  /** @param spec The dtype as pickled, e.g. 'f4', '<u1'. */
  constructor(readonly spec: string) {
    const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(spec);
    if (!m) throw new Error(`unsupported numpy dtype '${spec}'`);
    const kind = m[2]!;
    const size = m[3] ? Number(m[3]) : kind === '?' || kind === 'b' ? 1 : 0;
    this.kind = kind === '?' ? 'b' : kind;
    this.itemsize = size;
    const order = m[1] === '=' || m[1] === '' ? '<' : (m[1] as '<' | '>' | '|');
    this.byteorder = size <= 1 ? '|' : order;
  }
  /** Canonical name as numpy prints `dtype.str`, e.g. '<f4', '|u1'. */
  get str(): string {
    return `${this.byteorder}${this.kind}${this.itemsize}`;
  }
  __setstate__(state: unknown): void {
    // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
    if (!Array.isArray(state) || state.length < 8) throw new Error('malformed numpy dtype state');
    const [, order, subarray, names] = state as unknown[];
    if (subarray != null || names != null) throw new Error(`structured numpy dtype '${this.spec}' is not supported`);
    if (order === '<' || order === '>' || order === '|') this.byteorder = this.itemsize <= 1 ? '|' : order;
    else if (order === '=') this.byteorder = this.itemsize <= 1 ? '|' : '<';
  }
}

/** A numpy array as pickled: dtype, shape, memory order and its raw bytes (or where they are on disk). */
export class NdArray {
  /** The element type. */
  dtype: NpDtype;
  /** The array's sizes. */
  shape: number[];
  /** True for Fortran (column-major) order, false for C order. */
  fortran = false;
  /** The raw bytes, where they are on disk (lazy mode), or null once an `onArray` hook dropped them. */
  data: Uint8Array | LazyBytes | null = null;
  /** Set by an `onArray` hook (e.g. the decoded typed array). */
  value: unknown = undefined;
  constructor(dtype: NpDtype, shape: number[]) {
    this.dtype = dtype;
    this.shape = shape;
  }
  /** The number of elements (the product of the shape). */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

// ---------------------------------------------------------------------------------------------------

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Turns the UTF-8 form of a str whose code points are all < 256 into those code points as bytes. */
export function utf8ToLatin1(utf8: Uint8Array): Uint8Array {
  let n = 0;
  for (let i = 0; i < utf8.length; i++) if ((utf8[i]! & 0xc0) !== 0x80) n++;
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < utf8.length; ) {
    const b = utf8[i]!;
    if (b < 0x80) {
      out[o++] = b;
      i += 1;
    } else if ((b & 0xe0) === 0xc0 && i + 1 < utf8.length) {
      const cp = ((b & 0x1f) << 6) | (utf8[i + 1]! & 0x3f);
      if (cp > 0xff) throw new Error('str has code points above U+00FF: not latin-1 bytes');
      out[o++] = cp;
      i += 2;
    } else {
      throw new Error('str has code points above U+00FF: not latin-1 bytes');
    }
  }
  return out;
}

function latin1StringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new Error('str has code points above U+00FF: not latin-1 bytes');
    out[i] = c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Whitelisted globals

/** Builds the JS value of a whitelisted Python global called with `args`. */
export type GlobalHandler = (args: unknown[]) => unknown;

const NDARRAY_MARKER = Symbol('numpy.ndarray');

function reconstruct(args: unknown[]): NdArray {
  // numpy.core.multiarray._reconstruct(subtype, shape, dtype_code) → an empty array, then __setstate__.
  if (args[0] !== NDARRAY_MARKER) throw new Error(`numpy _reconstruct of a non-ndarray subtype (${String(args[0])})`);
  return new NdArray(new NpDtype('|u1'), [0]);
}

function frombuffer(args: unknown[]): NdArray {
  // numpy.core.numeric._frombuffer(buf, dtype, shape, order) (protocol 5).
  const [buf, dtype, shape, order] = args;
  if (!(dtype instanceof NpDtype)) throw new Error('numpy _frombuffer without a dtype');
  const nd = new NdArray(dtype, toShape(shape));
  nd.fortran = order === 'F';
  nd.data = toBytes(buf);
  return nd;
}

function ndarraySetState(nd: NdArray, state: unknown): void {
  if (!Array.isArray(state) || (state.length !== 4 && state.length !== 5)) throw new Error('malformed numpy array state');
  const s = state.length === 5 ? state.slice(1) : state;
  const [shape, dtype, fortran, raw] = s as unknown[];
  if (!(dtype instanceof NpDtype)) throw new Error('numpy array state without a dtype');
  if (dtype.kind === 'O') throw new Error('numpy object arrays are not supported');
  nd.dtype = dtype;
  nd.shape = toShape(shape);
  nd.fortran = fortran === true || fortran === 1;
  nd.data = toBytes(raw);
}

function toShape(shape: unknown): number[] {
  const list = typeof shape === 'number' ? [shape] : shape;
  if (!Array.isArray(list) || !list.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new Error('malformed numpy shape');
  }
  return list as number[];
}

function toBytes(raw: unknown): Uint8Array | LazyBytes {
  if (raw instanceof Uint8Array || raw instanceof LazyBytes) return raw;
  if (typeof raw === 'string') return latin1StringToBytes(raw);
  if (raw instanceof BigStr) {
    return raw.utf8 instanceof LazyBytes
      ? new LazyBytes(raw.utf8.offset, raw.utf8.length, 'utf8-latin1')
      : utf8ToLatin1(raw.utf8);
  }
  throw new Error('numpy array data is not a byte string');
}

function codecsEncode(args: unknown[]): Uint8Array | LazyBytes {
  const [s, enc] = args;
  if (enc !== 'latin1' && enc !== 'latin-1' && enc !== 'iso-8859-1') {
    throw new Error(`_codecs.encode with unsupported encoding '${String(enc)}'`);
  }
  return toBytes(s);
}

function scalar(args: unknown[]): unknown {
  const [dtype, raw] = args;
  if (!(dtype instanceof NpDtype)) throw new Error('numpy scalar without a dtype');
  const bytes = toBytes(raw);
  if (bytes instanceof LazyBytes) throw new Error('numpy scalar data left on disk');
  const nd = new NdArray(dtype, []);
  nd.data = bytes;
  return readElements(nd, bytes)[0];
}

/** Reads every element of an array (C order of its flat buffer) as numbers. Small arrays only. */
function readElements(nd: NdArray, bytes: Uint8Array): number[] {
  const { kind, itemsize } = nd.dtype;
  const little = nd.dtype.byteorder !== '>';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let o = 0; o + itemsize <= bytes.length; o += itemsize) out.push(readScalar(view, o, kind, itemsize, little));
  return out;
}

export function readScalar(view: DataView, o: number, kind: string, size: number, little: boolean): number {
  switch (kind + size) {
    case 'f2':
      return halfToFloat(view.getUint16(o, little));
    case 'f4':
      return view.getFloat32(o, little);
    case 'f8':
      return view.getFloat64(o, little);
    case 'u1':
    case 'b1':
      return view.getUint8(o);
    case 'i1':
      return view.getInt8(o);
    case 'u2':
      return view.getUint16(o, little);
    case 'i2':
      return view.getInt16(o, little);
    case 'u4':
      return view.getUint32(o, little);
    case 'i4':
      return view.getInt32(o, little);
    case 'u8':
      return Number(view.getBigUint64(o, little));
    case 'i8':
      return Number(view.getBigInt64(o, little));
    default:
      throw new Error(`unsupported numpy dtype '${kind}${size}'`);
  }
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function makeSet(args: unknown[]): Set<unknown> {
  const items = args[0];
  return new Set(Array.isArray(items) ? items : []);
}

const DEFAULT_GLOBALS: Record<string, GlobalHandler | symbol> = {
  'numpy.ndarray': NDARRAY_MARKER,
  'numpy.core.multiarray._reconstruct': reconstruct,
  'numpy._core.multiarray._reconstruct': reconstruct,
  'numpy.core.numeric._frombuffer': frombuffer,
  'numpy._core.numeric._frombuffer': frombuffer,
  'numpy.core.multiarray.scalar': scalar,
  'numpy._core.multiarray.scalar': scalar,
  'numpy.dtype': (args) => {
    if (typeof args[0] !== 'string') throw new Error('numpy dtype with a non-string type code');
    return new NpDtype(args[0]);
  },
  '_codecs.encode': codecsEncode,
  'builtins.set': makeSet,
  'builtins.frozenset': makeSet,
  '__builtin__.set': makeSet,
  '__builtin__.frozenset': makeSet,
  'builtins.bytearray': (args) => (args.length === 0 ? new Uint8Array(0) : toBytes(args[0])),
  'collections.OrderedDict': (args) => new Map(Array.isArray(args[0]) ? (args[0] as [unknown, unknown][]) : []),
};

// ---------------------------------------------------------------------------------------------------
// Windowed file reader

const DEFAULT_WINDOW = 4 << 20;
const MIN_WINDOW = 4096;

class WindowReader {
  private readonly buf: Uint8Array;
  private start = 0; // file offset of buf[0]
  pos = 0; // read index in buf
  private end = 0; // valid bytes in buf
  private lastReported = -1;

  constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly size: number,
    private readonly onProgress?: (fraction: number) => void,
    window = DEFAULT_WINDOW,
  ) {
    this.buf = new Uint8Array(window);
  }

  get offset(): number {
    return this.start + this.pos;
  }
  get avail(): number {
    return this.end - this.pos;
  }

  truncated(what: string): DataError {
    return new DataError(
      `${this.path}: truncated pickle: the file ends at byte ${this.size} while reading ${what} (no STOP opcode reached)`,
      'ERR_DATA',
    );
  }

  /** Makes at least n bytes available in the window (n ≤ window size). */
  async fill(n: number, what: string): Promise<void> {
    if (this.avail >= n) return;
    if (this.offset + n > this.size) throw this.truncated(what);
    const keep = this.avail;
    this.buf.copyWithin(0, this.pos, this.end);
    this.start += this.pos;
    this.pos = 0;
    this.end = keep;
    const want = Math.min(this.buf.length - keep, this.size - this.start - keep);
    while (this.end < keep + want) {
      const { bytesRead } = await this.readAt(this.buf, this.end, keep + want - this.end, this.start + this.end);
      if (bytesRead === 0) throw this.truncated(what);
      this.end += bytesRead;
    }
    this.report();
  }

  private async readAt(buf: Uint8Array, off: number, len: number, position: number) {
    try {
      return await this.fh.read(buf, off, len, position);
    } catch (error) {
      throw ioError(this.path, error);
    }
  }

  report(done = false): void {
    if (!this.onProgress) return;
    const f = done ? 1 : this.size > 0 ? this.offset / this.size : 1;
    if (done || f - this.lastReported >= 0.001) {
      this.lastReported = f;
      this.onProgress(f);
    }
  }

  // The following assume fill() was awaited for their size.
  u8(): number {
    return this.buf[this.pos++]!;
  }
  u16(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos += 2;
    return b[p]! | (b[p + 1]! << 8);
  }
  u32(): number {
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }
  i32(): number {
    return this.u32() | 0;
  }
  u64(what: string): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi > 0x1fffff) throw new DataError(`${this.path}: ${what} length at byte ${this.offset - 8} is too large`, 'ERR_DATA');
    return hi * 0x100000000 + lo;
  }
  f64be(): number {
    const v = new DataView(this.buf.buffer, this.pos, 8).getFloat64(0, false);
    this.pos += 8;
    return v;
  }
  /** A copy of the next n bytes (in window). */
  view(n: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Copies the next n bytes (any size) into a fresh, exactly-sized Uint8Array. */
  async take(n: number, what: string): Promise<Uint8Array> {
    if (this.offset + n > this.size) throw this.truncated(what);
    const out = new Uint8Array(n);
    const first = Math.min(n, this.avail);
    out.set(this.buf.subarray(this.pos, this.pos + first));
    this.pos += first;
    if (first === n) return out;
    // Read the rest straight into the destination, then restart the window after it.
    let got = first;
    const base = this.offset;
    while (got < n) {
      const { bytesRead } = await this.readAt(out, got, n - got, base + got - first);
      if (bytesRead === 0) throw this.truncated(what);
      got += bytesRead;
    }
    this.start = base + (n - first);
    this.pos = 0;
    this.end = 0;
    this.report();
    return out;
  }

  /** Skips the next n bytes and returns where they are. */
  skip(n: number, what: string, encoding: LazyBytes['encoding'] = 'raw'): LazyBytes {
    const at = this.offset;
    if (at + n > this.size) throw this.truncated(what);
    if (n <= this.avail) this.pos += n;
    else {
      this.start = at + n;
      this.pos = 0;
      this.end = 0;
      this.report();
    }
    return new LazyBytes(at, n, encoding);
  }
}

// ---------------------------------------------------------------------------------------------------

/** Options of {@link unpickleFile}. */
export interface UnpickleOptions {
  /** Called with the fraction of the file consumed (0..1), at most about once per 0.1 %. */
  onProgress?: (fraction: number) => void;
  /** Leave byte payloads larger than `lazyThreshold` on disk (as LazyBytes) instead of reading them. */
  lazy?: boolean;
  /** Payload size above which lazy mode skips the bytes (default 4096). */
  lazyThreshold?: number;
  /** Called when a numpy array is complete (dtype, shape and data known). It may decode the data into
   * `array.value` and drop `array.data`, so that the raw bytes can be collected early. */
  onArray?: (array: NdArray) => void;
  /** Size of the read window in bytes (default 4 MiB, at least 4096). */
  windowSize?: number;
  /** Extra whitelisted globals, keyed 'module.name'. */
  globals?: Record<string, GlobalHandler>;
}

/** Strings whose UTF-8 form is larger than this stay as BigStr (they are array data in protocol 2). */
const BIG_STR = 1024;

/** Reads one pickle from a file. Errors: DataError ERR_IO (unreadable), ERR_DATA (malformed pickle). */
export async function unpickleFile(path: string, options: UnpickleOptions = {}): Promise<unknown> {
  const windowSize = options.windowSize ?? DEFAULT_WINDOW;
  if (!Number.isInteger(windowSize) || windowSize < MIN_WINDOW) {
    throw new DataError(`${path}: read window must be an integer ≥ ${MIN_WINDOW} bytes, got ${String(windowSize)}`, 'ERR_ARGUMENT');
  }
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (error) {
    throw ioError(path, error);
  }
  try {
    let size: number;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new DataError(`${path}: not a regular file`, 'ERR_IO');
      size = st.size;
    } catch (error) {
      throw ioError(path, error);
    }
    const reader = new WindowReader(fh, path, size, options.onProgress, windowSize);
    const value = await run(reader, options);
    reader.report(true);
    return value;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function run(r: WindowReader, options: UnpickleOptions): Promise<unknown> {
  const globals: Record<string, GlobalHandler | symbol> = { ...DEFAULT_GLOBALS, ...options.globals };
  const lazy = options.lazy === true;
  const lazyThreshold = options.lazyThreshold ?? 4096;
  const onArray = options.onArray;
  const path = r.path;

  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let opAt = 0;
  let opName = '';

  const fail = (message: string): never => {
    throw new DataError(`${path}: malformed pickle at byte ${opAt} (${opName}): ${message}`, 'ERR_DATA');
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail('no MARK on the stack');
    stack = prev!;
    return items;
  };
  const need = (n: number) => r.fill(n, opName);
  const bytesPayload = async (n: number): Promise<Uint8Array | LazyBytes> => {
    if (lazy && n > lazyThreshold) return r.skip(n, opName);
    if (n <= r.avail) return r.view(n).slice();
    return r.take(n, opName);
  };
  const strPayload = async (n: number): Promise<string | BigStr> => {
    if (n > BIG_STR) {
      if (lazy && n > lazyThreshold) return new BigStr(r.skip(n, opName));
      return new BigStr(await r.take(n, opName));
    }
    await need(n);
    try {
      return utf8Decoder.decode(r.view(n));
    } catch {
      return fail('invalid UTF-8 in a str');
    }
  };
  const latin1Payload = async (n: number): Promise<string | Uint8Array | LazyBytes> => {
    // Python 2 `str`: bytes. Short ones are kept as latin-1 text (keys, names); long ones as bytes.
    if (n > BIG_STR) return bytesPayload(n);
    await need(n);
    const b = r.view(n);
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  };
  const line = async (): Promise<string> => {
    let s = '';
    for (;;) {
      await need(1);
      const c = r.u8();
      if (c === 0x0a) return s;
      s += String.fromCharCode(c);
      if (s.length > 1 << 16) fail('text line too long');
    }
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!Array.isArray(args)) fail('call arguments are not a tuple');
    if (fn instanceof PyGlobal) return new PyObject(fn, args as unknown[]);
    if (typeof fn !== 'function') fail(`object is not callable (${describe(fn)})`);
    try {
      const out = (fn as GlobalHandler)(args as unknown[]);
      if (out instanceof NdArray && out.data !== null) onArray?.(out);
      return out;
    } catch (error) {
      if (error instanceof DataError) throw error;
      return fail((error as Error).message);
    }
  };
  const resolve = (module: string, name: string): unknown => {
    const h = globals[`${module}.${name}`];
    return h === undefined ? new PyGlobal(module, name) : h;
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (items.length % 2) fail('odd number of items for a dict');
    if (dict instanceof Map) {
      for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    } else if (dict instanceof PyObject) {
      // A dict subclass: keep the items in its state.
      const m = dict.state instanceof Map ? dict.state : new Map();
      for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
      dict.state = m;
    } else fail(`SETITEM(S) on a non-dict (${describe(dict)})`);
  };
  const appendItems = (list: unknown, items: unknown[]) => {
    if (Array.isArray(list)) for (const x of items) list.push(x);
    else if (list instanceof Set) for (const x of items) list.add(x);
    else fail(`APPEND(S) on a non-list (${describe(list)})`);
  };

  for (;;) {
    await need(1);
    opAt = r.offset;
    const op = r.u8();
    opName = OPNAMES[op] ?? `0x${op.toString(16)}`;
    switch (op) {
      case 0x80: // PROTO
        await need(1);
        if (r.u8() > 5) fail('unsupported protocol (newer than 5)');
        break;
      case 0x95: // FRAME: framing is only a read-ahead hint; our window does its own.
        await need(8);
        r.u64(opName);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || metastack.length !== 0) fail('stack not balanced at STOP');
        return stack[0];
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x30: // POP
        if (stack.length === 0) {
          // Popping the MARK itself (protocol 0 quirk).
          if (metastack.length === 0) fail('stack underflow');
          stack = metastack.pop()!;
        } else stack.pop();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      // memo
      case 0x70: // PUT
        memo.set(Number.parseInt(await line(), 10), top());
        break;
      case 0x71: // BINPUT
        await need(1);
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        await need(4);
        memo.set(r.u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        let idx: number;
        if (op === 0x67) idx = Number.parseInt(await line(), 10);
        else if (op === 0x68) {
          await need(1);
          idx = r.u8();
        } else {
          await need(4);
          idx = r.u32();
        }
        if (!memo.has(idx)) fail(`memo key ${idx} not found`);
        stack.push(memo.get(idx));
        break;
      }

      // constants and numbers
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT
        const s = await line();
        if (s === '01') stack.push(true);
        else if (s === '00') stack.push(false);
        else stack.push(parseIntText(s) ?? fail(`bad INT '${s}'`));
        break;
      }
      case 0x4c: {
        // LONG
        const s = (await line()).replace(/L$/, '');
        stack.push(parseIntText(s) ?? fail(`bad LONG '${s}'`));
        break;
      }
      case 0x46: {
        // FLOAT
        const s = await line();
        const v = Number(s);
        stack.push(Number.isNaN(v) && !/nan/i.test(s) ? fail(`bad FLOAT '${s}'`) : v);
        break;
      }
      case 0x4a: // BININT
        await need(4);
        stack.push(r.i32());
        break;
      case 0x4b: // BININT1
        await need(1);
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        await need(2);
        stack.push(r.u16());
        break;
      case 0x8a: {
        // LONG1
        await need(1);
        const n = r.u8();
        await need(n);
        stack.push(signedLE(r.view(n)));
        break;
      }
      case 0x8b: {
        // LONG4
        await need(4);
        const n = r.i32();
        if (n < 0) fail('negative length');
        const b = await bytesPayload(n);
        if (b instanceof LazyBytes) fail('integer too large');
        stack.push(signedLE(b as Uint8Array));
        break;
      }
      case 0x47: // BINFLOAT
        await need(8);
        stack.push(r.f64be());
        break;

      // strings and bytes
      case 0x53: {
        // STRING (protocol 0, repr-quoted)
        const s = await line();
        if (s.length < 2 || s[0] !== s[s.length - 1] || (s[0] !== "'" && s[0] !== '"')) fail('insecure string pickle');
        stack.push(unescapePy(s.slice(1, -1)));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push((await line()).replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
        break;
      case 0x54: {
        // BINSTRING
        await need(4);
        const n = r.i32();
        if (n < 0) fail('negative length');
        stack.push(await latin1Payload(n));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        await need(1);
        stack.push(await latin1Payload(r.u8()));
        break;
      case 0x58: // BINUNICODE
        await need(4);
        stack.push(await strPayload(r.u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        await need(1);
        stack.push(await strPayload(r.u8()));
        break;
      case 0x8d: // BINUNICODE8
        await need(8);
        stack.push(await strPayload(r.u64(opName)));
        break;
      case 0x42: // BINBYTES
        await need(4);
        stack.push(await bytesPayload(r.u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        await need(1);
        stack.push(await bytesPayload(r.u8()));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        await need(8);
        stack.push(await bytesPayload(r.u64(opName)));
        break;
      case 0x97: // NEXT_BUFFER
        fail('out-of-band buffers (protocol 5 buffer_callback) are not supported');
        break;
      case 0x98: // READONLY_BUFFER
        break;

      // containers
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        { const items = popMark(); stack.push(items); }
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        { const items = popMark(); stack.push(items); }
        break;
      case 0x61: {
        // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const m = new Map();
        setItems(m, items);
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [dictKey(k), v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        for (let i = 0; i < items.length; i += 2) items[i] = dictKey(items[i]);
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        { const items = popMark(); stack.push(new Set(items)); }
        break;

      // objects
      case 0x63: {
        // GLOBAL
        const module = await line();
        const name = await line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two str');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x69: {
        // INST
        const module = await line();
        const name = await line();
        const args = popMark();
        stack.push(call(resolve(module, name), args));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark();
        if (items.length === 0) fail('OBJ without a class');
        stack.push(call(items[0], items.slice(1)));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        try {
          if (obj instanceof NdArray) {
            ndarraySetState(obj, state);
            onArray?.(obj);
          } else if (obj instanceof NpDtype) obj.__setstate__(state);
          else if (obj instanceof PyObject) obj.state = state;
          else if (obj instanceof Map && state instanceof Map) for (const [k, v] of state) obj.set(k, v);
          else fail(`BUILD on ${describe(obj)}`);
        } catch (error) {
          if (error instanceof DataError) throw error;
          fail((error as Error).message);
        }
        break;
      }
      case 0x50: // PERSID
      case 0x51: // BINPERSID
        fail('persistent ids are not supported');
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        fail('extension registry codes are not supported');
        break;
      default:
        fail('unknown opcode');
    }
  }

  function dictKey(k: unknown): unknown {
    return k instanceof BigStr && !(k.utf8 instanceof LazyBytes) ? k.toString() : k;
  }
}

function parseIntText(s: string): number | bigint | undefined {
  if (!/^[+-]?\d+$/.test(s.trim())) return undefined;
  const b = BigInt(s.trim());
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function unescapePy(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt0])/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e;
  });
}

export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof NdArray) return `ndarray ${v.dtype.str} ${v.shape.join('×') || 'scalar'}`;
  if (v instanceof PyObject) return `${v.cls} object`;
  if (v instanceof PyGlobal) return `global ${v}`;
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (Array.isArray(v)) return `list/tuple of ${v.length}`;
  if (v instanceof Uint8Array || v instanceof LazyBytes) return 'bytes';
  if (v instanceof BigStr) return 'str';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v === 'string' ? 'str' : typeof v;
}

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT', 0x80: 'PROTO',
  0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES',
  0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS',
  0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};
