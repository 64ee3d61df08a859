// `--protocol reference` on `train` and `eval`: the reference code's behaviours as one switch. Training:
// gradient clipping 1.0, AdamW without decay on biases and LayerNorms, the row-wise baseline Dice,
// pick-indexed blank masking (model/training-protocol.ts); data: LIDC ×255 intensity and QUBIQ's
// preprocessing (the loaders' `protocol` option); the split in file order (data/reference-split.ts), or
// for QUBIQ the release's training and validation folders (data/qubiq-folder-split.ts); and evaluation of the final model (last.safetensors), not the one best on validation.
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { readSafetensorsHeader } from '../checkpoint/index.js';
import { SeqsamError } from '../errors.js';
import type { SplitBy } from '../data/split-settings.js';
import { qubiqRoot } from './dataset-spec.js';

export type ProtocolFlag = 'reference';

export const protocolOption = {
  choices: ['reference'] as const,
  describe: "the reference code's protocol: clip 1.0, decay exemptions, row-wise baseline Dice, pick-indexed blank masks, LIDC x255 / QUBIQ preprocessing, the file-order split (val 10 %, test 10 %, train the rest; QUBIQ: its training folder trains, its validation folder is the test part), the final model evaluated",
} as const;

/** The split the protocol implies where --split-by is not given: QUBIQ's own folders, else the file order. */
export function protocolSplitBy(protocol: ProtocolFlag | undefined, given: SplitBy | undefined, fallback: SplitBy, data: string): SplitBy {
  if (given) return given;
  if (protocol !== 'reference') return fallback;
  return qubiqRoot(data) === null ? 'reference' : 'folders';
}

/**
 * The checkpoint `eval` reads: a run folder gives its last.safetensors under the reference protocol (the
 * reference evaluates the final model) and its best.safetensors otherwise; the protocol is the one given,
 * else the one the run's last.safetensors records. A best.safetensors named together with an explicit
 * --protocol reference is refused: it is the model selection the protocol leaves out.
 */
export async function protocolCheckpoint(path: string, given: ProtocolFlag | undefined): Promise<string> {
  const isFolder = await stat(path).then((s) => s.isDirectory(), () => false);
  if (isFolder) {
    const last = join(path, 'last.safetensors');
    const recorded = existsSync(last) ? (await readSafetensorsHeader(last)).metadata.protocol : undefined;
    return (given ?? recorded) === 'reference' ? last : join(path, 'best.safetensors');
  }
  if (given === 'reference' && basename(path) === 'best.safetensors') {
    throw new SeqsamError('ERR_ARGUMENT', `--checkpoint ${path}: --protocol reference evaluates the final model; give the run's last.safetensors (or its folder), not the best on validation`);
  }
  return path;
}
