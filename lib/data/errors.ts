import { SeqsamError } from '../errors.js';

/** Error codes used by the dataset loaders. */
export type DataErrorCode = 'ERR_DATA' | 'ERR_IO' | 'ERR_ARGUMENT';

/**
 * Every failure of a loader in `lib/data` is a DataError (a SeqsamError, so one `code` check covers all):
 * - `ERR_DATA`: the file exists but its content is wrong (bad shape, value range, format, …);
 * - `ERR_IO`: a file or folder is missing or cannot be read;
 * - `ERR_ARGUMENT`: an option passed by the caller is invalid.
 * Messages name the file and the entry or field at fault.
 */
export class DataError extends SeqsamError {
  /** `ERR_DATA`, `ERR_IO` or `ERR_ARGUMENT`, as described on the class. */
  declare readonly code: DataErrorCode;
  /**
   * @param message What is wrong, naming the file and the entry or field at fault.
   * @param code The failure's kind (default `ERR_DATA`).
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, code: DataErrorCode = 'ERR_DATA', options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DataError';
  }
}

/** True when `error` is a {@link DataError}, a loader's failure; narrows its type. */
export function isDataError(error: unknown): error is DataError {
  return error instanceof DataError;
}

/** Wraps a Node fs error (ENOENT, EACCES, EISDIR, …) as an ERR_IO DataError naming the path. */
export function ioError(path: string, error: unknown, what = 'cannot read'): DataError {
  if (error instanceof DataError) return error;
  const e = error as { code?: unknown; message?: unknown };
  const detail = typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : String(error);
  return new DataError(`${path}: ${what} (${detail})`, 'ERR_IO', { cause: error });
}
