// Evaluation on the low-res grid: each sample's cached embedding and box prompt go through
// model.evalStep (all numMasks hypotheses against all K labels, no gradients), and the (B, M, L, L)
// logits are scored against the (B, K, L, L) labels by metrics.compute. Works for SeqSAM (M masks) and
// for the baselines (sam-det: 1 mask, sam-mcl: 3).
//
// The grid is the padded square of the low-res logits: for non-square images the padding (where every
// label is 0) is part of the comparison.
import type { AbortSignalLike } from '../platform-types.js';
import { hashSeed, mulberry32 } from '../data/synthetic.js';
import { prepareTargets, type BoxSource, type PreparedTargets } from '../data/prepare.js';
import type { Dataset, Sample } from '../data/types.js';
import { SeqsamError, throwIfAborted } from '../errors.js';
import { compute, summarize, metricNames, type MetricsResult, type PerImageMetrics } from '../metrics.js';
import type { SeqSam, TrainBatch } from '../model/seqsam.js';
import { Tensor } from '../tensor.js';
import { EmbeddingCache, type EmbeddingCacheOptions } from './embedding-cache.js';

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Hypotheses per image for SeqSAM, a positive integer (default: the model's training numMasks, else 4). */
  numMasks?: number;
  /** Which samples (default all); must not be empty, and each must lie in the dataset. */
  indices?: readonly number[];
  /** Images per evaluation step, a positive integer (default 4). */
  batchSize?: number;
  /** A cache to share (the caller keeps owning it) or options for one made (and disposed) here. */
  cache?: EmbeddingCache | EmbeddingCacheOptions;
  /**
   * Box prompt: around a label chosen with a generator seeded by (seed, index) ('random-label', default), or
   * around the union of the labels ('union'). Never jittered.
   */
  boxFrom?: BoxSource;
  /** Seeds each sample's label choice for its box, with the sample's index (default 0). */
  seed?: number;
  /** Foreground threshold on the logits (default 0, i.e. probability 0.5). */
  threshold?: number;
  /** Stops between batches with `ERR_ABORTED`. */
  signal?: AbortSignalLike;
  /** Called after each batch with the images done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** What {@link evaluate} returns: per-image metrics, their means and standard deviations, and the loss. */
export interface EvaluationResult extends MetricsResult {
  /** Mean evaluation loss per image (matched Dice set loss over all K labels, blank ones included). */
  loss: number;
  /** Images evaluated. */
  count: number;
  /** Masks scored per image (M: numMasks for SeqSAM, 1 for sam-det, 3 for sam-mcl). */
  masks: number;
  /** The evaluated samples' ids, in the order of `perImage`. */
  ids: string[];
}

/**
 * Geometry of a model: encoder input side (`imageSize`), embedding grid side (`grid` = image_size /
 * patch_size) and low-res logits side (`lowResSize` = 4 × grid).
 */
export function modelGeometry(model: { config: { image_size?: number; patch_size?: number } }): { imageSize: number; grid: number; lowResSize: number } {
  const { image_size: imageSize, patch_size: patch } = model.config;
  if (!imageSize || !patch) throw new SeqsamError('ERR_ARGUMENT', 'model config lacks image_size / patch_size');
  const grid = imageSize / patch;
  return { imageSize, grid, lowResSize: 4 * grid };
}

/**
 * The prompt/label tensors of a batch of prepared samples, on `device`: boxes (B, 4), labels (B, K, L, L)
 * and labelMask (B, K), float32. The caller adds the embeddings. Every sample needs the same K.
 */
export function targetTensors(prepared: readonly PreparedTargets[], device: string): { boxes: Tensor; labels: Tensor; labelMask: Tensor } {
  const b = prepared.length;
  const k = prepared[0]!.numLabels;
  const l = prepared[0]!.lowResSize;
  const boxes = new Float32Array(b * 4);
  const labels = new Float32Array(b * k * l * l);
  const labelMask = new Float32Array(b * k);
  prepared.forEach((p, i) => {
    if (p.numLabels !== k) throw new SeqsamError('ERR_DATA', `sample ${p.id} has ${p.numLabels} labels, the batch ${k}: every sample needs the same K`);
    boxes.set(p.box, i * 4);
    labels.set(p.labels, i * k * l * l);
    labelMask.set(p.labelMask, i * k);
  });
  const tensors: Tensor[] = [];
  try {
    tensors.push(Tensor.from(boxes, [b, 4], { device }));
    tensors.push(Tensor.from(labels, [b, k, l, l], { device }));
    tensors.push(Tensor.from(labelMask, [b, k], { device }));
  } catch (error) {
    for (const t of tensors) t.dispose();
    throw error;
  }
  return { boxes: tensors[0]!, labels: tensors[1]!, labelMask: tensors[2]! };
}

/** What one step reads: the batch's cached embeddings and its prompt/label tensors, freed together. */
export interface StepInputs extends Disposable {
  embeddings: Tensor;
  boxes: Tensor;
  labels: Tensor;
  labelMask: Tensor;
  dispose(): void;
}

export async function stepInputs(model: SeqSam, cache: EmbeddingCache, samples: readonly Sample[], prepared: readonly PreparedTargets[], device: string): Promise<StepInputs> {
  const targets = targetTensors(prepared, device);
  const freeTargets = () => {
    targets.boxes.dispose();
    targets.labels.dispose();
    targets.labelMask.dispose();
  };
  let embeddings: Tensor;
  try {
    embeddings = await cache.batch(model, samples);
  } catch (error) {
    freeTargets();
    throw error;
  }
  const dispose = () => {
    embeddings.dispose();
    freeTargets();
  };
  return { embeddings, ...targets, dispose, [Symbol.dispose]: dispose };
}

export function ownCache(cache: EmbeddingCache | EmbeddingCacheOptions | undefined): { cache: EmbeddingCache; owned: boolean } {
  if (cache instanceof EmbeddingCache) return { cache, owned: false };
  return { cache: new EmbeddingCache(cache ?? {}), owned: true };
}

function checkIndices(dataset: Dataset, indices: readonly number[], what: string): void {
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= dataset.length) throw new SeqsamError('ERR_ARGUMENT', `${what}: index ${i} is outside the dataset (length ${dataset.length})`);
  }
}

function perImageLossScale(model: SeqSam, batch: number): number {
  const training = model.training;
  const reduction = training?.reduction ?? ((training?.objective ?? 'seqsam') === 'seqsam' ? 'sum' : 'mean');
  return reduction === 'sum' ? 1 / batch : 1;
}

/**
 * Scores a model on a dataset on the low-res grid: each sample's cached embedding and box prompt go
 * through `evalStep` (all numMasks hypotheses against all K labels, no gradients), and the logits are
 * scored against the labels by `metrics.compute`. The model needs a training setup (it picks the
 * objective). Evaluates every sample unless `indices` says otherwise: after `train.train`, pass the test
 * part of the split.
 */
export async function evaluate(model: SeqSam, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  if (!model.training) throw new SeqsamError('ERR_ARGUMENT', 'evaluate: the model needs a training setup (configureTraining() or load with { training }) to pick its objective');
  const indices = options.indices ?? Array.from({ length: dataset.length }, (_, i) => i);
  checkIndices(dataset, indices, 'evaluate');
  if (!indices.length) throw new SeqsamError('ERR_ARGUMENT', 'evaluate: no samples to evaluate');
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new SeqsamError('ERR_ARGUMENT', `evaluate: batchSize must be a positive integer (got ${batchSize})`);
  const numMasks = options.numMasks ?? model.training.numMasks ?? 4;
  if (!Number.isInteger(numMasks) || numMasks < 1) throw new SeqsamError('ERR_ARGUMENT', `evaluate: numMasks must be a positive integer (got ${numMasks})`);
  const seed = options.seed ?? 0;
  const { imageSize, lowResSize } = modelGeometry(model);
  const device = model.device;
  const { cache, owned } = ownCache(options.cache);

  const perImage = Object.fromEntries(metricNames.map(([key]) => [key, [] as number[]])) as unknown as PerImageMetrics;
  const ids: string[] = [];
  let lossSum = 0;
  let masks = 0;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      throwIfAborted(options.signal, 'evaluation');
      const chunk = indices.slice(start, start + batchSize);
      const samples: Sample[] = [];
      for (const i of chunk) samples.push(await dataset.get(i));
      const prepared = samples.map((s, j) =>
        prepareTargets(s, { imageSize, lowResSize, boxFrom: options.boxFrom ?? 'random-label', jitter: 0, rng: mulberry32(hashSeed(seed, chunk[j]!)) }),
      );
      {
        using inputs = await stepInputs(model, cache, samples, prepared, device);
        // All K labels, blank ones included: no label mask at evaluation.
        const batch: TrainBatch = { embeddings: inputs.embeddings, boxes: inputs.boxes, labels: inputs.labels };
        using result = await model.evalStep(batch, { numMasks });
        if (!result.logits) throw new SeqsamError('ERR_NATIVE', 'evalStep returned no logits');
        masks = result.logits.shape[1]!;
        lossSum += result.loss * perImageLossScale(model, chunk.length) * chunk.length;
        const scores = await compute(result.logits, inputs.labels, { threshold: options.threshold });
        for (const [key] of metricNames) perImage[key].push(...scores.perImage[key]);
      }
      ids.push(...samples.map((s) => s.id));
      options.onProgress?.(Math.min(indices.length, start + chunk.length), indices.length);
    }
  } finally {
    if (owned) cache.dispose();
  }
  return { perImage, ...summarize(perImage), loss: lossSum / indices.length, count: indices.length, masks, ids };
}
