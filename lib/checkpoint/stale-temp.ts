// A writer killed mid-save (kill -9, power loss) leaves its temp file `<path>.tmp-<pid>-<n>` behind (older
// versions wrote `<path>.tmp-<pid>`); the finished file is never touched. The next save of the same path
// removes those whose writer is gone.
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

export async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return; // the folder does not exist yet: the write reports that
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)(?:-\d+)?$/.exec(name.slice(prefix.length));
    const pid = match ? Number(match[1]) : NaN;
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid)) await rm(join(dirname(path), name), { force: true });
  }
}
