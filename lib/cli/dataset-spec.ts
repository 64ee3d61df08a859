// Datasets named on the command line: `lidc:<pickle>`, `qubiq:<folder>[#training|validation]`,
// `folder:<dir>`, `synthetic[:count=N,size=S,raters=K,seed=X]`.
import { SeqsamError } from '../errors.js';
import { folder } from '../data/folder.js';
import { lidcPickle } from '../data/lidc-pickle.js';
import { qubiq } from '../data/qubiq.js';
import { synthetic } from '../data/synthetic.js';
import type { Dataset } from '../data/types.js';

export const datasetSpecHelp = 'lidc:<file.pickle> | qubiq:<folder>[#training|#validation] | folder:<dir> | synthetic[:count=160,size=64,raters=4,seed=0]';

function syntheticOptions(text: string): { count: number; size?: number; raters?: number; seed?: number } {
  const out: Record<string, number> = { count: 160 };
  for (const pair of text ? text.split(',') : []) {
    const [key, value] = pair.split('=');
    const n = Number(value);
    if (!key || !['count', 'size', 'raters', 'seed'].includes(key) || value === undefined || !Number.isInteger(n)) {
      throw new SeqsamError('ERR_ARGUMENT', `--data synthetic: "${pair}" is not one of count=, size=, raters=, seed= with an integer`);
    }
    out[key] = n;
  }
  return out as { count: number };
}

/** The folder a `qubiq:<folder>[#training|#validation]` spec names (without the part after #), else null. */
export function qubiqRoot(spec: string): string | null {
  if (!spec.startsWith('qubiq:')) return null;
  const root = spec.slice('qubiq:'.length).split('#')[0]!;
  if (!root) throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: name the path after "qubiq:"`);
  return root;
}

export interface OpenDatasetOptions {
  onProgress?: (fraction: number) => void;
  /** 'reference': the loaders read as the reference did (LIDC ×255 intensity, QUBIQ's preprocessing). */
  protocol?: 'reference';
}

export async function openDataset(spec: string, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  const needPath = () => {
    if (!rest) throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: name the path after "${kind}:"`);
    return rest;
  };
  switch (kind) {
    case 'synthetic':
      return synthetic(syntheticOptions(rest));
    case 'lidc':
      return lidcPickle(needPath(), { onProgress: options.onProgress, protocol: options.protocol });
    case 'qubiq': {
      const [root, split = 'training'] = needPath().split('#');
      if (split !== 'training' && split !== 'validation') throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: the split after # must be training or validation`);
      return qubiq(root!, { split, protocol: options.protocol });
    }
    case 'folder':
      return folder(needPath());
    default:
      throw new SeqsamError('ERR_ARGUMENT', `--data ${spec}: unknown dataset kind "${kind}" (expected ${datasetSpecHelp})`);
  }
}
