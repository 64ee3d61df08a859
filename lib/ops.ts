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
  count: number;
  min: number;
  max: number;
  // NaN or infinite values (always 0 for integer and bool tensors)
  nonFinite: number;
  // values with a fractional part (NaN counts; 0 for integer and bool tensors)
  nonIntegral: number;
}

const ops = () => addon().ops as NativeOps;

// (B, M, H, W) logits against (B, K, H, W) labels -> (B, M, K) squared soft Dice loss, in one batched
// computation (`perPair` computes it one pair at a time instead, as a baseline for benchmarks).
export async function diceCost(logits: Tensor, labels: Tensor, options: { perPair?: boolean } = {}): Promise<Tensor> {
  return new Tensor(await nativeCall(() => ops().diceCost(logits.handle, labels.handle, options.perPair ?? false)));
}

// (B, R, C) costs -> (B, R) int64: the column matched to each row, -1 where a row stays unmatched.
export async function assignment(cost: Tensor): Promise<Tensor> {
  return new Tensor(await nativeCall(() => ops().assignment(cost.handle)));
}

export type Pooling = 'strided' | 'reference-strided' | 'random' | 'first-k' | 'all';

// (B, P) step indices chosen for the loss by a pooling rule.
export function drawPicks(batch: number, numSteps: number, numLabels: number, pooling: Pooling, seed = 0): Tensor {
  return new Tensor(nativeSync(() => ops().drawPicks(batch, numSteps, numLabels, pooling, seed)));
}

// Same-shape tensors joined along a new axis `dim` (natively: no copy through JS).
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(nativeSync(() => ops().stack(tensors.map((t) => t.handle), dim)));
}

// Tensors joined along an existing axis `dim`.
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(nativeSync(() => ops().cat(tensors.map((t) => t.handle), dim)));
}

// A copy of index `index` along `dim` (e.g. one image of a batch).
export function select(tensor: Tensor, dim: number, index: number): Tensor {
  return new Tensor(nativeSync(() => ops().select(tensor.handle, dim, index)));
}

/** Count, min, max and the non-finite and non-integral values of a tensor, by reductions on its own device (no copy through JS). */
export async function valueStats(tensor: Tensor): Promise<ValueStats> {
  return nativeCall(() => ops().valueStats(tensor.handle));
}
