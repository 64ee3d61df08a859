// How ranks split the data, as DistributedSampler does (every rank shuffles the same epoch order and takes
// its share, the order padded to equal shares), arranged so that N ranks with batch b take, step by step,
// exactly the images one rank with batch N·b would.

/** Optimizer steps per epoch of `length` samples at `batchSize` per rank on `worldSize` ranks. */
export function stepsPerEpoch(length: number, batchSize: number, worldSize: number): number {
  const padded = Math.ceil(length / worldSize) * worldSize;
  return Math.ceil(padded / (batchSize * worldSize));
}

/**
 * Rank `rank`'s batch `step` of an epoch whose order is `order`: the order is padded to a multiple of
 * worldSize by repeating its start, cut into global batches of worldSize·batchSize (the last one shorter),
 * and the rank takes the rank-th of worldSize equal contiguous parts of the global batch.
 */
export function rankBatch(order: readonly number[], batchSize: number, step: number, rank: number, worldSize: number): number[] {
  const padded = Math.ceil(order.length / worldSize) * worldSize;
  const start = step * batchSize * worldSize;
  const end = Math.min(padded, start + batchSize * worldSize);
  const share = (end - start) / worldSize;
  const out: number[] = [];
  for (let i = start + rank * share; i < start + (rank + 1) * share; i++) out.push(order[i % order.length]!);
  return out;
}

/** The positions of `count` items rank `rank` evaluates or embeds: every worldSize-th, no padding. */
export function strideShard(count: number, rank: number, worldSize: number): number[] {
  const out: number[] = [];
  for (let i = rank; i < count; i += worldSize) out.push(i);
  return out;
}
