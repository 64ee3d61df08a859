// The hyper-parameters of a reproduction. LIDC and QUBIQ: the paper's (MedSAM ViT-B, encoder frozen, box
// prompts, one epoch, batch 2, AdamW with lr 1e-4 decayed linearly to 0 and weight decay 0.01, the final
// model evaluated) under protocol 'reference' (gradient clip 1.0, decay exemptions, row-wise baseline
// Dice, pick-indexed blank masks). Synthetic: the same protocol on the embedded tiny SAM, with the demo's
// larger steps so that a few epochs on a few dozen images learn something.
import { SeqsamError } from '../errors.js';

export type ReproduceDataset = 'lidc' | 'qubiq' | 'synthetic';

export const reproduceDatasets: readonly ReproduceDataset[] = ['lidc', 'qubiq', 'synthetic'];

/** What every run of one reproduction shares; recorded in <out>/settings.json. */
export interface ReproduceSettings {
  dataset: ReproduceDataset;
  data: string;
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  schedule: 'linear';
  protocol: 'reference';
  seed: number;
  /** The weights every run starts from ('random' for the tiny SAM without a checkpoint). */
  weights: string;
  /** The architecture: a preset name or 'tiny'. */
  architecture: string;
}

/** The paper's training setup (the reference's Trainer arguments). */
export const paperHyperParameters = { epochs: 1, batchSize: 2, lr: 1e-4, weightDecay: 0.01 } as const;

/** The synthetic stand-in: few epochs, the demo's batch and learning rate. */
export const syntheticHyperParameters = { epochs: 5, batchSize: 8, lr: 2e-3, weightDecay: 0.01 } as const;

export const defaultSyntheticData = 'synthetic:count=80,size=64';

/** The setting that differs between two reproductions' settings, or undefined when none does. */
export function differingSetting(a: ReproduceSettings, b: ReproduceSettings): keyof ReproduceSettings | undefined {
  return (Object.keys(a) as (keyof ReproduceSettings)[]).find((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]));
}

export function checkReproduceDataset(value: unknown): ReproduceDataset {
  if (!reproduceDatasets.includes(value as ReproduceDataset)) {
    throw new SeqsamError('ERR_ARGUMENT', `reproduce: dataset must be one of ${reproduceDatasets.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as ReproduceDataset;
}
