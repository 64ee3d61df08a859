// Tensor: a JS handle on a native torch::Tensor. The data stays in native (or GPU) memory; it is copied
// into JS only by toTypedArray().
import { SeqsamError, nativeCall, nativeSync } from './errors.js';
import { addon, type NativeTensor } from './native.js';

/** A tensor's element type, by PyTorch's names (`float32` is `torch.float32`). */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'int16' | 'int32' | 'int64' | 'bool';

/**
 * The typed array that holds a dtype's elements: float16/bfloat16 as raw 16-bit patterns in a Uint16Array,
 * bool and uint8 in a Uint8Array, int64 in a BigInt64Array.
 */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'float16' | 'bfloat16'
      ? Uint16Array
      : D extends 'int8'
        ? Int8Array
        : D extends 'uint8' | 'bool'
          ? Uint8Array
          : D extends 'int16'
            ? Int16Array
            : D extends 'int32'
              ? Int32Array
              : BigInt64Array;

/** Any typed array a {@link Tensor} can be made from or copied into. */
export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Int32Array
  | BigInt64Array;

// The element type a typed array's bytes are read as. Uint16Array holds float16 unless told bfloat16;
// Uint8Array holds uint8 unless told bool.
const defaultDtype = new Map<Function, DType>([
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Uint16Array, 'float16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
  [Int16Array, 'int16'],
  [Int32Array, 'int32'],
  [BigInt64Array, 'int64'],
]);

function viewOf(dtype: string, buffer: ArrayBuffer): AnyTypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buffer);
    case 'int8': return new Int8Array(buffer);
    case 'uint8':
    case 'bool': return new Uint8Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'int64': return new BigInt64Array(buffer);
    default: throw new SeqsamError('ERR_ARGUMENT', `Tensor: no typed array holds dtype '${dtype}'`);
  }
}

/** Options of {@link Tensor.from}. */
export interface TensorFromOptions {
  /** Where the tensor lives: `'cpu'` (default), `'cuda'` or `'cuda:N'` (`ERR_DEVICE` where CUDA is not available). */
  device?: string;
  /**
   * Reinterprets the typed array's elements: `'bool'` for a Uint8Array, `'bfloat16'` for a Uint16Array.
   * Default: the array's own type (Float32Array → float32, Uint16Array → float16, Uint8Array and
   * Uint8ClampedArray → uint8, BigInt64Array → int64, ...).
   */
  dtype?: DType;
}

/**
 * A JS handle on a native `torch::Tensor`. The data stays in native (or GPU) memory and is copied into JS
 * only by {@link Tensor.toTypedArray} / {@link Tensor.toArray}. Free it with `dispose()` or a `using`
 * declaration; a disposed tensor throws `ERR_DISPOSED` when used.
 */
export class Tensor implements Disposable {
  // The native handle; null once disposed. Native functions accept the Tensor itself.
  #handle: NativeTensor | null;

  /** Wraps a native handle; for seqsam's own code. Users make tensors with {@link Tensor.from}. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
  }

  /**
   * A tensor holding a copy of `data`, in row-major order.
   * @param data The elements; its type decides the dtype unless `options.dtype` says otherwise.
   * @param shape The tensor's sizes; their product must equal `data.length` (`ERR_SHAPE` otherwise).
   * @param options Device (default `'cpu'`) and dtype reinterpretation.
   */
  static from(data: AnyTypedArray, shape: readonly number[], options: TensorFromOptions = {}): Tensor {
    const dtype = options.dtype ?? defaultDtype.get(data.constructor);
    if (!dtype) throw new SeqsamError('ERR_ARGUMENT', 'Tensor.from: data must be a typed array');
    return new Tensor(nativeSync(() => addon().tensorFromTypedArray(data, [...shape], dtype, options.device ?? 'cpu')));
  }

  /** The native handle, for seqsam's internals that pass tensors to the addon; throws `ERR_DISPOSED` once disposed. */
  get handle(): NativeTensor {
    if (!this.#handle) throw new SeqsamError('ERR_DISPOSED', 'Tensor: used after dispose()');
    return this.#handle;
  }

  /** The sizes of the tensor's dimensions (a fresh array). */
  get shape(): number[] {
    return nativeSync(() => this.handle.shape);
  }

  /** The element type. */
  get dtype(): DType {
    return nativeSync(() => this.handle.dtype) as DType;
  }

  /** Where the data lives: `'cpu'`, `'cuda:0'`, ... */
  get device(): string {
    return nativeSync(() => this.handle.device);
  }

  /** Bytes the elements take (elements × element size). */
  get byteLength(): number {
    return nativeSync(() => this.handle.byteLength);
  }

  /** The number of elements (the product of the shape; 1 for a scalar). */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** True once the tensor was disposed (by this handle or natively); then other members throw `ERR_DISPOSED`. */
  get disposed(): boolean {
    return this.#handle === null || this.#handle.disposed;
  }

  /**
   * Copies the data out (off the JS thread, from any device) as a typed array of the tensor's dtype:
   * see {@link TypedArrayFor} for which array holds which dtype.
   */
  async toTypedArray(): Promise<AnyTypedArray> {
    const handle = this.handle;
    const dtype = handle.dtype;
    const buffer = await nativeCall(() => handle.toBuffer());
    return viewOf(dtype, buffer);
  }

  /** Copies the data out as plain numbers (int64 converted with `Number`, float16/bfloat16 as raw bit patterns). */
  async toArray(): Promise<number[]> {
    const data = await this.toTypedArray();
    return Array.from(data as ArrayLike<number | bigint>, Number);
  }

  /**
   * A copy on another device and/or dtype; the original is kept (dispose it if no longer needed).
   * @param target `device` (default: this tensor's) and `dtype` (default: this tensor's).
   */
  async to(target: { device?: string; dtype?: DType }): Promise<Tensor> {
    const handle = this.handle;
    return new Tensor(await nativeCall(() => handle.to(target.device, target.dtype)));
  }

  /** Frees the native memory now rather than at garbage collection; calling it again does nothing. */
  dispose(): void {
    this.#handle?.dispose();
    this.#handle = null;
  }

  /** Same as {@link Tensor.dispose}, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** `Tensor(float32[1, 3] on cpu)`, or `Tensor(disposed)`. */
  toString(): string {
    return this.disposed ? 'Tensor(disposed)' : `Tensor(${this.dtype}[${this.shape.join(', ')}] on ${this.device})`;
  }
}

/** Tensors by name, as in a checkpoint's state dict. */
export type NamedTensors = Record<string, Tensor>;

export function wrapNamed(native: Record<string, NativeTensor>): NamedTensors {
  const out: NamedTensors = {};
  // Defined, not assigned: a tensor named '__proto__' is a tensor, not a new prototype.
  for (const [name, handle] of Object.entries(native)) Object.defineProperty(out, name, { value: new Tensor(handle), enumerable: true, writable: true, configurable: true });
  return out;
}

/** Disposes every tensor of a list or of a {@link NamedTensors} record. */
export function disposeAll(tensors: Iterable<Tensor> | NamedTensors): void {
  const list = Symbol.iterator in Object(tensors) ? (tensors as Iterable<Tensor>) : Object.values(tensors as NamedTensors);
  for (const t of list) t.dispose();
}
