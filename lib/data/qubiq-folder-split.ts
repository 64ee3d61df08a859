// The reference's QUBIQ split: no split of one folder, but the release's own two folders. It trains on the
// training folder (training_data_v2) and evaluates the final model on the validation folder
// (validation_data_v2); there is no validation part for model selection and no test folder of its own.
// `seqsam reproduce qubiq` and `seqsam train` / `eval` under `--protocol reference` both read it here.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import { DataError } from './errors.js';
import { qubiq, type QubiqDataset, type QubiqOptions } from './qubiq.js';

/** The parts of the split: training reads the training folder, test (the evaluation) the validation folder. */
export type QubiqFolderPart = 'train' | 'test';

/** The release folder (QubiqOptions.split) each part reads. */
export const qubiqFolderOfPart: Record<QubiqFolderPart, 'training' | 'validation'> = { train: 'training', test: 'validation' };

/**
 * Opens the folder of one part of the split under `root` (every case of it is in the part). A folder that
 * is absent is refused with ERR_IO naming it and the part that needs it, before any case is listed.
 */
export async function qubiqFolderPart(root: string, part: QubiqFolderPart, options: Omit<QubiqOptions, 'split'> = {}): Promise<QubiqDataset> {
  const split = qubiqFolderOfPart[part];
  const organ = options.organ ?? 'kidney';
  const dir = join(root, `${split}_data_v2`, organ, split === 'training' ? 'Training' : 'Validation');
  const isFolder = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isFolder) {
    const use = part === 'train' ? 'trains on' : 'evaluates';
    throw new DataError(`${dir}: no such folder; the reference's QUBIQ split ${use} the ${split} folder (${split}_data_v2/${organ}/${split === 'training' ? 'Training' : 'Validation'} under ${root})`, 'ERR_IO');
  }
  return qubiq(root, { ...options, split });
}
