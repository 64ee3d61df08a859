// Reads any supported checkpoint into named native tensors.
import { open } from 'node:fs/promises';

import { SeqsamError } from '../errors.js';
import type { NamedTensors } from '../tensor.js';
import { readSafetensors } from './safetensors.js';
import { readTorchCheckpoint } from './torch-checkpoint.js';

export { readSafetensors, readSafetensorsHeader, writeSafetensors } from './safetensors.js';
export { readTorchCheckpoint } from './torch-checkpoint.js';
export { huggingFaceName, mapCheckpointNames, type KeyMapping } from './key-names.js';

/** A checkpoint file's format: a `torch.save` zip archive or safetensors. */
export type CheckpointFormat = 'torch' | 'safetensors';

/**
 * A checkpoint file's format, decided by content, not by extension: torch.save files are zip archives
 * ("PK"). Throws `ERR_CHECKPOINT` for a legacy (pre-1.6) torch pickle or anything else, `ERR_IO` when the
 * file cannot be read.
 */
export async function detectFormat(path: string): Promise<CheckpointFormat> {
  let head: Buffer;
  try {
    const file = await open(path, 'r');
    try {
      head = Buffer.alloc(9);
      await file.read(head, 0, 9, 0);
    } finally {
      await file.close();
    }
  } catch (error) {
    throw new SeqsamError('ERR_IO', `${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (head[0] === 0x50 && head[1] === 0x4b) return 'torch';
  if (head[8] === 0x7b) return 'safetensors';
  if (head[0] === 0x80) {
    throw new SeqsamError('ERR_CHECKPOINT', `${path}: a legacy (pre-1.6) torch pickle; re-save it with torch.save in a current PyTorch`);
  }
  throw new SeqsamError('ERR_CHECKPOINT', `${path}: neither a torch.save zip nor a safetensors file`);
}

/**
 * Reads any supported checkpoint (torch.save zip or safetensors, detected by content) into CPU tensors
 * under the file's own names; `metadata` is the safetensors `__metadata__` map (empty for torch files).
 */
export async function readCheckpoint(path: string): Promise<{ tensors: NamedTensors; metadata: Record<string, string>; format: CheckpointFormat }> {
  const format = await detectFormat(path);
  if (format === 'torch') return { tensors: await readTorchCheckpoint(path), metadata: {}, format };
  return { ...(await readSafetensors(path)), format };
}
