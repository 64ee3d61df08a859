// Which images a reproduction trains on and which it evaluates, as the reference chose them. LIDC (and the
// synthetic set): one file, split in file order (validation the first 10 %, test the next 10 %, training
// the rest); validation is not used, since the final model is evaluated. QUBIQ: the release's training
// folder trains and its validation folder is evaluated (the reference has no test folder of its own).
import { SeqsamError } from '../errors.js';
import { qubiqFolderPart } from '../data/qubiq-folder-split.js';
import { splitByGroup } from '../data/split.js';
import type { Dataset } from '../data/types.js';
import type { ReproduceDataset } from './settings.js';

/** A dataset and the indices of it in use. */
export interface DataPart {
  dataset: Dataset;
  indices: number[];
}

export interface ReproduceData {
  train: DataPart;
  test: DataPart;
  /** How the parts were chosen, for the report. */
  description: string;
}

const all = (dataset: Dataset) => Array.from({ length: dataset.length }, (_, i) => i);

/** Opens a dataset named on the command line (`lidc:<pickle>`, `synthetic:…`), read under a protocol. */
export type DatasetOpener = (spec: string, options: { protocol: 'reference' }) => Promise<Dataset>;

export async function reproduceData(kind: ReproduceDataset, spec: string, openDataset: DatasetOpener): Promise<ReproduceData> {
  const specKind = spec.split(':')[0];
  if (specKind !== (kind === 'synthetic' ? 'synthetic' : kind)) {
    throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: reproduce ${kind} reads ${kind === 'synthetic' ? 'synthetic[:count=…]' : `${kind}:<path>`}`);
  }
  if (kind === 'qubiq') {
    const root = spec.slice('qubiq:'.length);
    if (!root || root.includes('#')) throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: give the QUBIQ folder without #training / #validation (both are read)`);
    const training = await qubiqFolderPart(root, 'train', { protocol: 'reference' });
    const validation = await qubiqFolderPart(root, 'test', { protocol: 'reference' });
    return {
      train: { dataset: training, indices: all(training) },
      test: { dataset: validation, indices: all(validation) },
      description: `trained on the training folder (${training.length} images), evaluated on the validation folder (${validation.length})`,
    };
  }
  const dataset = await openDataset(spec, { protocol: 'reference' });
  const split = splitByGroup(dataset, { by: 'reference' });
  if (!split.train.length || !split.test.length) {
    throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: ${dataset.length} images leave the file-order split's ${split.train.length ? 'test' : 'training'} part empty; use more images`);
  }
  return {
    train: { dataset, indices: split.train },
    test: { dataset, indices: split.test },
    description: `file order: validation the first ${split.val.length} images (unused: the final model is evaluated), test the next ${split.test.length}, training the other ${split.train.length}`,
  };
}
