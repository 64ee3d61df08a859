// SeqSAM's building blocks on their own: Dice cost matrices, exact assignment, the pooling rule.
import { nativeCall, nativeSync } from './errors.js';
import { addon, type NativeTensor } from './native.js';
import { Tensor } from './tensor.js';

interface NativeOps {
  diceCost(logits: NativeTensor, labels: NativeTensor, perPair: boolean): Promise<NativeTensor>;
  assignment(cost: NativeTensor): Promise<NativeTensor>;
  drawPicks(batch: number, numSteps: number, numLabels: number, pooling: string, seed: number): NativeTensor;
  stack(tensors: NativeTensor[], dim: number): NativeTensor;
  cat(tensors: NativeTensor[], dim: number): NativeTensor;
  select(tensor: NativeTensor, dim: number, index: number): NativeTensor;
  valueStats(tensor: NativeTensor): Promise<ValueStats>;
}

/** What a tensor's values look like, for input validation: min and max are NaN for an empty tensor or one holding a NaN. */
export interface ValueStats {
  /** The number of elements. */
  count: number;
  /** The smallest value (NaN for an empty tensor or one holding a NaN). */
  min: number;
  /** The largest value (NaN for an empty tensor or one holding a NaN). */
  max: number;
  /** NaN or infinite values (always 0 for integer and bool tensors). */
  nonFinite: number;
  /** Values with a fractional part (NaN counts; 0 for integer and bool tensors). */
  nonIntegral: number;
}

const ops = () => addon().ops as NativeOps;

/**
 * (B, M, H, W) logits against (B, K, H, W) labels in {0, 1} → (B, M, K) float32 squared soft Dice loss
 * `1 − (2Σpg + 1e-5) / (Σp² + Σg² + 1e-5)` with `p = sigmoid(logits)`, in one batched computation on the
 * logits' device. `perPair: true` (default false) computes it one pair at a time instead, as a baseline for
 * benchmarks.
 */
export async function diceCost(logits: Tensor, labels: Tensor, options: { perPair?: boolean } = {}): Promise<Tensor> {
  return new Tensor(await nativeCall(() => ops().diceCost(logits.handle, labels.handle, options.perPair ?? false)));
}

/**
 * Exact minimum-cost assignment per batch item (the Hungarian method): (B, R, C) costs → (B, R) int64, the
 * column matched to each row, -1 where a row stays unmatched (when R > C). NaN or infinite costs are an
 * `ERR_ARGUMENT` error.
 */
export async function assignment(cost: Tensor): Promise<Tensor> {
  return new Tensor(await nativeCall(() => ops().assignment(cost.handle)));
}

/**
 * Which of the M generated masks (steps) enter the training loss when there are more steps than labels:
 * - `strided`: K contiguous chunks as even as possible, one random step from each;
 * - `reference-strided`: the reference's chunks of ceil(M/K) steps, one random step from each (fewer than
 *   K picks when the chunks run out, e.g. M = 5, K = 4 gives 3; then only that many labels are matched);
 * - `random`: K distinct random steps;
 * - `first-k`: steps 0..K-1;
 * - `all`: every step (evaluation).
 */
export type Pooling = 'strided' | 'reference-strided' | 'random' | 'first-k' | 'all';

/**
 * (B, P) int64 step indices chosen for the loss by a pooling rule, each row drawn independently.
 * @param batch Rows to draw (≥ 1).
 * @param numSteps M, the steps (masks) generated (≥ 1; at least `numLabels` unless `pooling` is `'all'`).
 * @param numLabels K, the labels per image (≥ 1).
 * @param pooling The rule, see {@link Pooling}.
 * @param seed Seeds the draw (default 0): the same seed gives the same picks.
 */
export function drawPicks(batch: number, numSteps: number, numLabels: number, pooling: Pooling, seed = 0): Tensor {
  return new Tensor(nativeSync(() => ops().drawPicks(batch, numSteps, numLabels, pooling, seed)));
}

/** Same-shape tensors (a non-empty list) joined along a new axis `dim` (default 0), natively: no copy through JS. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(nativeSync(() => ops().stack(tensors.map((t) => t.handle), dim)));
}

/** Tensors (a non-empty list) joined along an existing axis `dim` (default 0); other sizes must agree (`ERR_SHAPE`). */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(nativeSync(() => ops().cat(tensors.map((t) => t.handle), dim)));
}

/** A copy of index `index` along `dim`, that axis removed (e.g. one image of a batch). */
export function select(tensor: Tensor, dim: number, index: number): Tensor {
  return new Tensor(nativeSync(() => ops().select(tensor.handle, dim, index)));
}

/** Count, min, max and the non-finite and non-integral values of a tensor, by reductions on its own device (no copy through JS). */
export async function valueStats(tensor: Tensor): Promise<ValueStats> {
  return nativeCall(() => ops().valueStats(tensor.handle));
}
