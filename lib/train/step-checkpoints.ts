// Step-numbered checkpoints (`step-0000120.safetensors`) that `saveEvery` keeps beside last.safetensors,
// so a run can go back to an earlier point; only the newest `keep` stay on disk.
import { copyFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

const pattern = /^step-(\d+)\.safetensors$/;

export function stepCheckpointName(step: number): string {
  return `step-${String(step).padStart(7, '0')}.safetensors`;
}

// The step checkpoints in `dir`, oldest first.
export async function listStepCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => pattern.test(n))
    .sort((a, b) => Number(pattern.exec(a)![1]) - Number(pattern.exec(b)![1]))
    .map((n) => join(dir, n));
}

// Copies the checkpoint just written at `source` to the step's name (through a temporary name, so a kill
// leaves no half file under a step name), then removes all but the newest `keep` (0 keeps every one).
export async function keepStepCheckpoint(source: string, dir: string, step: number, keep: number): Promise<string> {
  const target = join(dir, stepCheckpointName(step));
  const temporary = `${target}.tmp-${process.pid}`;
  await copyFile(source, temporary);
  await rename(temporary, target);
  if (keep > 0) {
    const all = await listStepCheckpoints(dir);
    for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(old, { force: true });
  }
  return target;
}

export async function removeStepCheckpoints(dir: string): Promise<void> {
  for (const file of await listStepCheckpoints(dir)) await rm(file, { force: true });
}
