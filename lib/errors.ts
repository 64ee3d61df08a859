// Every error seqsam throws is a SeqsamError with a stable `code`, so callers can branch on it.
import type { AbortSignalLike } from './platform-types.js';

/**
 * The stable `code` of a {@link SeqsamError}:
 * - `ERR_SHAPE`: a tensor or array has the wrong shape (the message names both shapes);
 * - `ERR_ARGUMENT`: an argument or option is invalid (wrong type, out of range, unknown name);
 * - `ERR_CHECKPOINT`: a checkpoint cannot be read or does not fit the model (missing, extra or misshapen tensors);
 * - `ERR_DEVICE`: a device name is invalid or the device is not available (e.g. `'cuda'` without CUDA);
 * - `ERR_DISPOSED`: a tensor, model or embedding was used after `dispose()`;
 * - `ERR_IO`: a file or folder cannot be read or written;
 * - `ERR_OUT_OF_MEMORY`: an allocation failed (CPU or GPU);
 * - `ERR_TORCH`: any other LibTorch error;
 * - `ERR_NATIVE`: any other error of the native addon;
 * - `ERR_ABORTED`: the caller's AbortSignal stopped the call (its `reason` is the error's `cause`);
 * - `ERR_DATA`: a dataset file exists but its content is wrong;
 * - `ERR_NUMERIC`: a training step whose loss or gradients are NaN or infinite (nothing was updated);
 * - `ERR_DISTRIBUTED`: a process group that cannot form or lost a rank, or ranks that disagree (the message
 *   names the rank).
 */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_ARGUMENT'
  | 'ERR_CHECKPOINT'
  | 'ERR_DEVICE'
  | 'ERR_DISPOSED'
  | 'ERR_IO'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_TORCH'
  | 'ERR_NATIVE'
  | 'ERR_ABORTED'
  | 'ERR_DATA'
  // a training step whose loss or gradients are NaN or infinite (nothing was updated)
  | 'ERR_NUMERIC'
  // a process group that cannot form or lost a rank, or ranks that disagree (the message names the rank)
  | 'ERR_DISTRIBUTED';

/**
 * Every error seqsam throws (native ones included) is a SeqsamError with a stable {@link ErrorCode} in
 * `code`, so callers can branch on it; the stack starts at the caller's call, not inside the addon.
 */
export class SeqsamError extends Error {
  /** What kind of failure this is; stable across versions, unlike the message. */
  readonly code: ErrorCode;
  /**
   * @param code The failure's kind.
   * @param message What went wrong, naming the argument, file or tensor at fault.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SeqsamError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new SeqsamError(code, message);
}

/** True when `error` is a {@link SeqsamError} (a DataError included); narrows its type. */
export function isSeqsamError(error: unknown): error is SeqsamError {
  return error instanceof SeqsamError;
}

// Native errors arrive as plain Errors with a `code`; this rebuilds them as SeqsamErrors whose stack
// starts at the user's call (the native stack would end inside a libuv callback).
export function fromNative(error: unknown, callSite: Error): SeqsamError {
  if (error instanceof SeqsamError) return error;
  const e = error as { code?: string; message?: string };
  const code = (typeof e?.code === 'string' ? e.code : 'ERR_NATIVE') as ErrorCode;
  const out = new SeqsamError(code, e?.message ?? String(error), { cause: error });
  const frames = (callSite.stack ?? '').split('\n').slice(1).join('\n');
  out.stack = `${out.name} [${code}]: ${out.message}\n${frames}`;
  return out;
}

// Awaits a native promise, keeping the caller's stack on failure.
export async function nativeCall<T>(start: () => Promise<T>): Promise<T> {
  const callSite = new Error();
  Error.captureStackTrace?.(callSite, nativeCall);
  try {
    return await start();
  } catch (error) {
    throw fromNative(error, callSite);
  }
}

// Runs a synchronous native call, converting its errors the same way.
export function nativeSync<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    const callSite = new Error();
    Error.captureStackTrace?.(callSite, nativeSync);
    throw fromNative(error, callSite);
  }
}

export function throwIfAborted(signal: AbortSignalLike | undefined, what: string): void {
  if (signal?.aborted) throw new SeqsamError('ERR_ABORTED', `${what} was aborted`, { cause: signal.reason });
}
