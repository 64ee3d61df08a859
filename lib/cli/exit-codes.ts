// What `seqsam` exits with. One policy for every command:
//   0    success
//   1    the work failed (a file, checkpoint, dataset or device problem; the message names it)
//   2    the command line is wrong: yargs' usage errors (unknown command or flag, a missing or
//        ill-typed value) and ERR_ARGUMENT (a value that parsed but is not allowed)
//   130  interrupted by Ctrl-C (as a shell reports a process ended by SIGINT)
import { isSeqsamError } from '../errors.js';

export const exitCodes = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

// A yargs usage error, carried out of its fail callback so that main() decides the exit code.
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return exitCodes.usage;
  if (isSeqsamError(error) && error.code === 'ERR_ARGUMENT') return exitCodes.usage;
  if (isSeqsamError(error) && error.code === 'ERR_ABORTED') return exitCodes.interrupted;
  return exitCodes.failure;
}
