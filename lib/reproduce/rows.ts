// The rows of the paper's tables as training runs and evaluations: SeqSAM (trained at M = 4, evaluated at
// M = 4 and M = 10), the SAM-MCL and single-mask SAM baselines (Table 1A), and the ablations (Table 1B) —
// stop-gradient through the fed-back masks, first-K and random pooling, fixed (not Hungarian) matching —
// each against a SeqSAM trained as they are, at M = 10: the pooling ablations change nothing while M ≤ K.
import type { TrainingOptions } from '../model/seqsam.js';

/** One training run of the reproduction and the rows its evaluations fill. */
export interface ReproduceRun {
  /** Folder name under <out>/runs and the key of its rows. */
  id: string;
  training: TrainingOptions;
  rows: ReadonlyArray<ReproduceRow>;
}

/** One row of the table: a run evaluated with M masks. */
export interface ReproduceRow {
  id: string;
  title: string;
  /** Masks asked for at evaluation (the baselines give their own count whatever it is). */
  numMasks: number;
  /** 'main' rows are Table 1A's, 'ablation' rows Table 1B's. */
  table: 'main' | 'ablation';
}

/** M in training for the main SeqSAM row, as the paper trains. */
export const trainMasks = 4;
/** M in training and at evaluation for the ablations, and the larger M evaluated for SeqSAM. */
export const manyMasks = 10;

/**
 * Every run, in order. The reference's pooling (its chunks of ⌈M/K⌉ steps) is used where M > K, so that
 * the ablations differ from the full model only in what they name.
 */
export function reproduceRuns(): ReproduceRun[] {
  const seqsam = (numMasks: number, extra: Partial<TrainingOptions> = {}): TrainingOptions => ({ objective: 'seqsam', numMasks, pooling: 'reference-strided', matching: 'hungarian', feedback: 'backprop', ...extra });
  return [
    {
      id: 'seqsam',
      training: seqsam(trainMasks),
      rows: [
        { id: 'seqsam', title: `SeqSAM (M=${trainMasks})`, numMasks: trainMasks, table: 'main' },
        { id: 'seqsam-m10', title: `SeqSAM, evaluated at M=${manyMasks}`, numMasks: manyMasks, table: 'main' },
      ],
    },
    { id: 'sam-mcl', training: { objective: 'sam-mcl' }, rows: [{ id: 'sam-mcl', title: 'SAM-MCL (3 heads)', numMasks: 3, table: 'main' }] },
    { id: 'sam-det', training: { objective: 'sam-det' }, rows: [{ id: 'sam-det', title: 'SAM (one mask)', numMasks: 1, table: 'main' }] },
    { id: 'ablation-base', training: seqsam(manyMasks), rows: [{ id: 'ablation-base', title: `SeqSAM, M=${manyMasks} (ablation base)`, numMasks: manyMasks, table: 'ablation' }] },
    { id: 'ablation-stop-gradient', training: seqsam(manyMasks, { feedback: 'stop-gradient' }), rows: [{ id: 'ablation-stop-gradient', title: 'no backprop through fed-back masks', numMasks: manyMasks, table: 'ablation' }] },
    { id: 'ablation-first-k', training: seqsam(manyMasks, { pooling: 'first-k' }), rows: [{ id: 'ablation-first-k', title: 'first-K pooling', numMasks: manyMasks, table: 'ablation' }] },
    { id: 'ablation-random', training: seqsam(manyMasks, { pooling: 'random' }), rows: [{ id: 'ablation-random', title: 'random pooling', numMasks: manyMasks, table: 'ablation' }] },
    { id: 'ablation-fixed-matching', training: seqsam(manyMasks, { matching: 'fixed' }), rows: [{ id: 'ablation-fixed-matching', title: 'no Hungarian matching (fixed order)', numMasks: manyMasks, table: 'ablation' }] },
  ];
}
