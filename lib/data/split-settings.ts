// How `seqsam train` (and the demo) split the data (seed, fractions, by group, image, the reference's
// file order or QUBIQ's own folders), recorded in their checkpoints as metadata 'split' so that `eval` takes the same test split
// without being told again.
import { SeqsamError } from '../errors.js';

/**
 * How a dataset was split. With by 'reference' (file order: see reference-split.ts) or 'folders' (QUBIQ's
 * training folder trains, its validation folder is the test part: see qubiq-folder-split.ts) seed and
 * fractions do not apply.
 */
export interface SplitSettings {
  seed: number;
  fractions: number[];
  by: SplitBy;
}

export type SplitBy = 'group' | 'image' | 'reference' | 'folders';

export const splitByChoices: readonly SplitBy[] = ['group', 'image', 'reference', 'folders'];

export const defaultSplit: SplitSettings = { seed: 0, fractions: [0.8, 0.1, 0.1], by: 'group' };

export function splitMetadata(settings: SplitSettings): Record<string, string> {
  return { split: JSON.stringify(settings) };
}

// The settings a checkpoint recorded, or null (SAM weights, or a checkpoint from before they were recorded).
export function recordedSplit(path: string, metadata: Record<string, string>): SplitSettings | null {
  if (!metadata.split) return null;
  try {
    const s = JSON.parse(metadata.split) as SplitSettings;
    if (Number.isInteger(s.seed) && Array.isArray(s.fractions) && splitByChoices.includes(s.by)) return s;
  } catch {
    // reported below
  }
  throw new SeqsamError('ERR_CHECKPOINT', `${path}: metadata 'split' is not {seed, fractions, by}: ${metadata.split.slice(0, 80)}`);
}
