// Every error seqsam throws is a SeqsamError with a stable `code`, so callers can branch on it.
import type { AbortSignalLike } from './platform-types.js';

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

export class SeqsamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SeqsamError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new SeqsamError(code, message);
}

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
