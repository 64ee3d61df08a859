// The images `train` trains and validates on and `eval` evaluates, by the split settings: parts of one
// dataset (split by group, image or file order), or with by 'folders' QUBIQ's own folders, each part a
// whole folder (the reference's QUBIQ split, data/qubiq-folder-split.ts).
import { qubiqFolderPart } from '../data/qubiq-folder-split.js';
import type { SplitSettings } from '../data/split-settings.js';
import { splitByGroup } from '../data/split.js';
import type { Dataset } from '../data/types.js';
import { SeqsamError } from '../errors.js';
import { openDataset, qubiqRoot, type OpenDatasetOptions } from './dataset-spec.js';

/** A dataset and the indices of it in one part of a split. */
export interface SplitPart {
  dataset: Dataset;
  indices: number[];
}

/** The data `train` reads: one dataset with its training and validation indices. */
export interface TrainingParts {
  dataset: Dataset;
  train: number[];
  val: number[];
}

const every = (dataset: Dataset) => Array.from({ length: dataset.length }, (_, i) => i);

// The QUBIQ folder the split 'folders' reads; any other --data is refused, naming it.
function foldersRoot(spec: string): string {
  const root = qubiqRoot(spec);
  if (root === null) throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: --split-by folders is QUBIQ's training and validation folders; give qubiq:<folder>`);
  return root;
}

/** Opens the data of `train`: under 'folders' the whole training folder trains and nothing validates (as the reference). */
export async function openTrainingParts(spec: string, settings: SplitSettings, options: OpenDatasetOptions = {}): Promise<TrainingParts> {
  if (settings.by === 'folders') {
    const dataset = await qubiqFolderPart(foldersRoot(spec), 'train', { protocol: options.protocol });
    return { dataset, train: every(dataset), val: [] };
  }
  const dataset = await openDataset(spec, options);
  const split = splitByGroup(dataset, { seed: settings.seed, fractions: settings.fractions, by: settings.by });
  return { dataset, train: split.train, val: split.val };
}

/**
 * Opens the data of one part for `eval` ('all': every image of --data, whatever the split). Under
 * 'folders' train is the training folder and test the validation folder; there is no val part.
 */
export async function openEvaluationPart(spec: string, settings: SplitSettings, part: 'train' | 'val' | 'test' | 'all', options: OpenDatasetOptions = {}): Promise<SplitPart> {
  if (part === 'all') {
    const dataset = await openDataset(spec, options);
    return { dataset, indices: every(dataset) };
  }
  if (settings.by === 'folders') {
    if (part === 'val') throw new SeqsamError('ERR_ARGUMENT', `--split val: the QUBIQ folder split of ${spec} has no validation part (the training folder trains, the validation folder is the test part); choose --split test or train`);
    const dataset = await qubiqFolderPart(foldersRoot(spec), part, { protocol: options.protocol });
    return { dataset, indices: every(dataset) };
  }
  const dataset = await openDataset(spec, options);
  const split = splitByGroup(dataset, { seed: settings.seed, fractions: settings.fractions, by: settings.by });
  return { dataset, indices: split[part] };
}
