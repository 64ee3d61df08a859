// `protocol: 'reference'`: the training settings under which the reference code (Hugging Face's Trainer
// around SeqSAM and its baselines) trained, as one switch. Each setting stays a named option of its own;
// one given explicitly wins over the protocol. The defaults without a protocol are the sound choices.
import { SeqsamError } from '../errors.js';
import type { TrainingOptions } from './seqsam.js';

export type Protocol = 'reference';

/** What protocol 'reference' sets in the training options (where they are not given). */
export const referenceTrainingSettings = {
  // The Trainer's default max_grad_norm.
  gradClip: 1.0,
  // The Trainer builds AdamW with biases and LayerNorm weights out of the decay.
  decayExempt: 'bias-and-norm',
  // The baselines' Dice loss took the rows of (B·heads, H, W) masks for channels.
  baselineDice: 'row-wise',
  // Matched pair r weighed by the r-th label's mask.
  blankMasking: 'pick-index',
} as const satisfies Partial<TrainingOptions>;

export function checkProtocol(what: string, protocol: unknown): Protocol | undefined {
  if (protocol === undefined) return undefined;
  if (protocol !== 'reference') throw new SeqsamError('ERR_ARGUMENT', `${what}: protocol must be 'reference' (got ${JSON.stringify(protocol)})`);
  return protocol;
}

/** The options the native trainer receives: the protocol's settings under those given explicitly. */
export function resolveTrainingProtocol(options: TrainingOptions): TrainingOptions {
  const protocol = checkProtocol('training options', options.protocol);
  if (!protocol) return options;
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...referenceTrainingSettings, ...given };
}
