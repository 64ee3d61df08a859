// A deadline per request. The native call behind it cannot be interrupted: it finishes in the background,
// and what it produces then is handed to `discard` instead of to nobody.
import { SeqsamError } from '../errors.js';

export async function withTimeout<T>(work: Promise<T>, ms: number, what: string, discard: (late: T) => void = () => {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new SeqsamError('ERR_ABORTED', `${what} took longer than the server's ${ms} ms limit`));
    }, ms);
  });
  work.then((value) => timedOut && discard(value), () => {});
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
