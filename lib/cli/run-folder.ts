// A training run's folder: what makes it a run already, and starting over in it. `seqsam train --out DIR`
// refuses a folder holding a run unless told to continue it (--resume) or to replace it (--overwrite).
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

import { SeqsamError } from '../errors.js';
import { listStepCheckpoints } from '../train/step-checkpoints.js';
import { removeCheckpoints } from '../train/trainer.js';

const runFiles = ['last.safetensors', 'best.safetensors', 'train.jsonl'];

// The files of an earlier run in `dir` (none when it is new or holds something else).
export async function existingRunFiles(dir: string): Promise<string[]> {
  const found = runFiles.filter((name) => existsSync(join(dir, name))).map((name) => join(dir, name));
  return [...found, ...(await listStepCheckpoints(dir))];
}

export async function prepareRunFolder(dir: string, mode: { resume: boolean; overwrite: boolean }): Promise<void> {
  if (mode.resume && mode.overwrite) throw new SeqsamError('ERR_ARGUMENT', '--resume continues the run in --out and --overwrite replaces it: give one');
  if (mode.resume) return;
  const found = await existingRunFiles(dir);
  if (!found.length) return;
  if (!mode.overwrite) {
    throw new SeqsamError('ERR_ARGUMENT', `--out ${dir} holds a run already (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}): continue it with --resume, replace it with --overwrite, or choose another --out`);
  }
  await removeCheckpoints(dir);
  await rm(join(dir, 'train.jsonl'), { force: true });
}
