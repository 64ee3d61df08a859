// Evaluation with the validation samples split across ranks: each rank scores every worldSize-th sample,
// then one all-reduce of (per-image metrics at their positions, loss sum) gives every rank the result one
// process evaluating all of them would (each sample's prompt draw depends on its index only).
import { metricNames, summarize, type PerImageMetrics } from '../metrics.js';
import type { Dataset } from '../data/types.js';
import type { SeqSam } from '../model/seqsam.js';
import { evaluate, type EvaluateOptions, type EvaluationResult } from './evaluate.js';
import { allReduceSum, type DistributedGroup } from '../distributed/process-group.js';
import { strideShard } from '../distributed/shard.js';

/** evaluate() over the group: `options.indices` (default all) shared out; every rank gets the whole result. */
export async function evaluateSharded(group: DistributedGroup, model: SeqSam, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const indices = options.indices ?? Array.from({ length: dataset.length }, (_, i) => i);
  const positions = strideShard(indices.length, group.rank, group.worldSize);
  const local = positions.length ? await evaluate(model, dataset, { ...options, indices: positions.map((p) => indices[p]!) }) : null;
  const n = indices.length;
  // Layout: one block of n values per metric, then the loss sum and the masks per image.
  const values = new Float64Array(metricNames.length * n + 2);
  if (local) {
    metricNames.forEach(([key], m) => positions.forEach((p, j) => (values[m * n + p] = local.perImage[key][j]!)));
    values[metricNames.length * n] = local.loss * local.count;
    values[metricNames.length * n + 1] = local.masks;
  }
  const total = await allReduceSum(values);
  const perImage = Object.fromEntries(metricNames.map(([key], m) => [key, Array.from(total.subarray(m * n, (m + 1) * n))])) as unknown as PerImageMetrics;
  const ranksWithSamples = Math.min(group.worldSize, n);
  const ids = new Array<string>(n).fill('');
  if (local) positions.forEach((p, j) => (ids[p] = local.ids[j]!));
  return {
    perImage,
    ...summarize(perImage),
    loss: total[metricNames.length * n]! / n,
    count: n,
    masks: Math.round(total[metricNames.length * n + 1]! / ranksWithSamples),
    // Only this rank's samples are named here (the others' ids stay on their ranks).
    ids,
  };
}
