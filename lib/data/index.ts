// Dataset loaders for multi-rater medical segmentation.
import { folder } from './folder.js';
import { lidcPickle } from './lidc-pickle.js';
import { qubiq } from './qubiq.js';
import { synthetic } from './synthetic.js';

/**
 * The dataset loaders: `lidcPickle(path, options?)`, `qubiq(root, { split, ... })` and `folder(dir, options?)`
 * read files and return promises; `synthetic({ count, ... })` generates its samples and returns the dataset
 * directly.
 */
export const datasets = { lidcPickle, qubiq, folder, synthetic } as const;

export type { Dataset, RawImage, Sample } from './types.js';
export { DataError, isDataError, type DataErrorCode } from './errors.js';
export { splitByGroup, splitByImage, collectGroups, type Split, type SplitOptions, type GroupedDataset } from './split.js';
export { splitInFileOrder } from './reference-split.js';
export { lidcPickle, LidcPickleDataset, type LidcPickleOptions } from './lidc-pickle.js';
export { qubiq, QubiqDataset, type QubiqOptions } from './qubiq.js';
export { qubiqFolderPart, qubiqFolderOfPart, type QubiqFolderPart } from './qubiq-folder-split.js';
export { folder, FolderDataset, type FolderOptions } from './folder.js';
export {
  synthetic,
  SyntheticDataset,
  SYNTHETIC_MODES,
  ABSENT_PROBABILITY,
  mulberry32,
  type SyntheticMode,
  type SyntheticOptions,
} from './synthetic.js';
export { readNifti, type NiftiVolume } from './nifti.js';
export { unpickleFile, NdArray, NpDtype, PyObject, PyGlobal, LazyBytes, BigStr, type UnpickleOptions } from './pickle.js';
