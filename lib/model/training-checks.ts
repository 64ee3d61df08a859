// Validation of what SeqSam's training entry points take: the training setup, a step's options and a
// batch. Rates, M and point labels follow the same rules as predict (lib/validate.ts), and label tensors
// are checked natively for values other than 0 and 1.
import { SeqsamError } from '../errors.js';
import type { NativeTensor } from '../native.js';
import { Tensor } from '../tensor.js';
import { FLOAT32_MAX, checkKeys, checkNumMasks, checkNumber, checkObject, checkRate, checkTensorValues } from '../validate.js';
import type { TrainBatch, TrainingOptions } from './seqsam.js';
import { checkProtocol } from './training-protocol.js';

const trainingKeys = ['objective', 'numMasks', 'pooling', 'matching', 'feedback', 'reduction', 'lr', 'weightDecay', 'betas', 'eps', 'gradClip', 'trainEncoder', 'seed', 'decayExempt', 'baselineDice', 'blankMasking', 'protocol', 'cudaGraphs'];
const batchKeys = ['embeddings', 'images', 'boxes', 'points', 'pointLabels', 'labels', 'labelMask', 'picks'];

/** Checks a training setup before it reaches the native model (which checks the names of objectives and rules). */
export function checkTrainingOptions(options: unknown): asserts options is TrainingOptions {
  checkObject('training options', options);
  checkKeys('training options', options, trainingKeys);
  const o = options as TrainingOptions;
  if (o.numMasks !== undefined) checkNumMasks('training.numMasks', o.numMasks);
  if (o.lr !== undefined) checkRate('training.lr', o.lr);
  if (o.weightDecay !== undefined) checkRate('training.weightDecay', o.weightDecay);
  if (o.gradClip !== undefined) checkRate('training.gradClip', o.gradClip);
  if (o.eps !== undefined) checkNumber('training.eps', o.eps, { min: 0, aboveMin: true, max: FLOAT32_MAX });
  if (o.seed !== undefined) checkNumber('training.seed', o.seed, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (o.cudaGraphs !== undefined && typeof o.cudaGraphs !== 'boolean') throw new SeqsamError('ERR_ARGUMENT', `training.cudaGraphs must be a boolean (got ${String(o.cudaGraphs)})`);
  checkProtocol('training options', o.protocol);
}

/** Checks trainStep's options: a learning rate that is finite and ≥ 0, and nothing unknown. */
export function checkStepOptions(options: unknown): asserts options is { lr?: number; update?: boolean } {
  checkObject('trainStep options', options);
  checkKeys('trainStep options', options, ['lr', 'update']);
  if (options.lr !== undefined) checkRate('trainStep: options.lr', options.lr);
  if (options.update !== undefined && typeof options.update !== 'boolean') throw new SeqsamError('ERR_ARGUMENT', `trainStep: options.update must be a boolean (got ${String(options.update)})`);
}

/**
 * The native handles of a batch, after checking its keys and values: labels and labelMask hold only 0 and
 * 1, pointLabels only -1, 0 and 1 (as predict's). Nothing is copied to JS.
 */
export async function checkedBatchHandles(what: string, batch: unknown): Promise<Record<string, NativeTensor>> {
  checkObject(`${what}: batch`, batch);
  checkKeys(`${what}: batch`, batch, batchKeys);
  const out: Record<string, NativeTensor> = {};
  for (const [key, value] of Object.entries(batch)) {
    if (value instanceof Tensor) out[key] = value.handle;
    else if (value !== undefined) throw new SeqsamError('ERR_ARGUMENT', `${what}: batch.${key} must be a Tensor`);
  }
  const b = batch as unknown as TrainBatch;
  if (!(b.labels instanceof Tensor)) throw new SeqsamError('ERR_ARGUMENT', `${what}: batch.labels is required (a (B, K, H, W) Tensor of 0 and 1)`);
  const checks = [checkTensorValues(`${what}: batch.labels`, b.labels, 0, 1, '0 and 1 (binary masks; a mask saved as 0/255 must be divided by 255)')];
  if (b.labelMask) checks.push(checkTensorValues(`${what}: batch.labelMask`, b.labelMask, 0, 1, '0 and 1'));
  if (b.pointLabels) checks.push(checkTensorValues(`${what}: batch.pointLabels`, b.pointLabels, -1, 1, '1 (foreground), 0 (background) or -1 (ignore)'));
  await Promise.all(checks);
  return out;
}
