// Output locations given by the user (checkpoint folders, log files, --out): file-system failures become
// ERR_IO naming the option and the path, not a bare EEXIST / ENOTDIR / EISDIR.
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { SeqsamError } from './errors.js';

const reasons: Record<string, string> = {
  EEXIST: 'exists and is not a folder',
  ENOTDIR: 'lies under something that is not a folder',
  EISDIR: 'is a folder, not a file',
  EACCES: 'is not writable (permission denied)',
  EPERM: 'is not writable (operation not permitted)',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'cannot be written: the disk is full',
};

/** A file-system error as ERR_IO naming `field` (the option) and `path`; other errors pass through. */
export function pathError(field: string, path: string, error: unknown): unknown {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('E') || error instanceof SeqsamError) return error;
  return new SeqsamError('ERR_IO', `${field} ${path} ${reasons[code] ?? `cannot be used (${code})`}`, { cause: error });
}

/** Creates the folder `path` (and its parents) for option `field`, or throws ERR_IO saying why it cannot. */
export async function ensureDirectory(field: string, path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw pathError(field, path, error);
  }
}

/** Makes sure a file can be written at `path` for option `field`: its folder exists and it is not a folder itself. */
export async function ensureFileLocation(field: string, path: string): Promise<void> {
  await ensureDirectory(`${field}'s folder`, dirname(path));
  const info = await stat(path).catch(() => null);
  if (info?.isDirectory()) throw new SeqsamError('ERR_IO', `${field} ${path} ${reasons.EISDIR}`);
}
