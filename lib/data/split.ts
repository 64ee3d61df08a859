// Train/validation/test splits. splitByGroup keeps every group (series, patient) inside one split, so no
// patient leaks between training and evaluation; splitByImage shuffles single images into the splits;
// by: 'reference' is the reference's own split (file order, no shuffling: see reference-split.ts).

import { DataError } from './errors.js';
import { splitInFileOrder } from './reference-split.js';
import { mulberry32 } from './synthetic.js';
import { type Dataset } from './types.js';

/** Options of {@link splitByGroup} and {@link splitByImage}. */
export interface SplitOptions {
  /** [train, val, test], non-negative, summing to 1 (default [0.8, 0.1, 0.1]). */
  fractions?: readonly [number, number, number] | readonly number[];
  /** Seeds the shuffle (an integer, taken modulo 2³²; default 0): the same seed gives the same split. */
  seed?: number;
  /**
   * 'group' (default), 'image' (= splitByImage: shuffled images), or 'reference' (the reference's split:
   * in file order, validation the first 10 %, test the next 10 %, training the rest; fractions and seed
   * do not apply). 'folders' (QUBIQ's training and validation folders) is no split of one dataset and
   * is refused: open each folder with qubiqFolderPart (qubiq-folder-split.ts).
   */
  by?: 'group' | 'image' | 'reference' | 'folders';
}

/** Sample indices of each part of a split, ascending; every index is in exactly one part. */
export interface Split {
  /** Indices to train on. */
  train: number[];
  /** Indices to validate on (model selection, early stopping). */
  val: number[];
  /** Indices held out for the final evaluation. */
  test: number[];
}

/** A dataset whose groups are known without reading samples (every loader in lib/data has them). */
export type GroupedDataset = Dataset & { readonly groups: readonly string[] };

type SplitInput = GroupedDataset | Dataset | readonly string[] | number;

/** Reads every sample's group (for a Dataset without a `groups` list). */
export async function collectGroups(dataset: Dataset): Promise<string[]> {
  const g = (dataset as Partial<GroupedDataset>).groups;
  if (Array.isArray(g) && g.length === dataset.length) return [...(g as string[])];
  const out: string[] = [];
  for (let i = 0; i < dataset.length; i++) out.push((await dataset.get(i)).group);
  return out;
}

function fractionsOf(options: SplitOptions): [number, number, number] {
  const f = options.fractions ?? [0.8, 0.1, 0.1];
  if (!Array.isArray(f) || f.length !== 3 || !f.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
    throw new DataError(`split: option fractions must be [train, val, test] of non-negative numbers, got ${JSON.stringify(f)}`, 'ERR_ARGUMENT');
  }
  const sum = f[0]! + f[1]! + f[2]!;
  if (Math.abs(sum - 1) > 1e-6) throw new DataError(`split: option fractions must sum to 1, got ${sum}`, 'ERR_ARGUMENT');
  return [f[0]!, f[1]!, f[2]!];
}

function seedOf(options: SplitOptions): number {
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new DataError(`split: option seed must be an integer, got ${String(seed)}`, 'ERR_ARGUMENT');
  }
  return seed >>> 0;
}

function groupsOf(input: SplitInput, what: string): readonly string[] {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input < 0) throw new DataError(`${what}: length must be a non-negative integer, got ${input}`, 'ERR_ARGUMENT');
    return Array.from({ length: input }, (_, i) => String(i));
  }
  if (Array.isArray(input)) {
    input.forEach((g, i) => {
      if (typeof g !== 'string') throw new DataError(`${what}: groups[${i}] is ${typeof g}, expected a string`, 'ERR_ARGUMENT');
    });
    return input as readonly string[];
  }
  const ds = input as Dataset & { groups?: unknown };
  if (ds && typeof ds === 'object' && typeof ds.length === 'number') {
    if (Array.isArray(ds.groups) && ds.groups.length === ds.length) return ds.groups as readonly string[];
    throw new DataError(
      `${what}: dataset '${ds.name}' has no groups list; pass await collectGroups(dataset) instead`,
      'ERR_ARGUMENT',
    );
  }
  throw new DataError(`${what}: expected a dataset, an array of groups or a length`, 'ERR_ARGUMENT');
}

function shuffle<T>(items: T[], seed: number): T[] {
  const rnd = mulberry32(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/**
 * Splits by group (or, with `options.by`, by image or as the reference): groups are shuffled (seeded) and assigned in turn to train, val and test so that each
 * split's share of *images* is as close as possible to its fraction (a group goes to the split whose
 * cumulative range holds the midpoint of the group's images). No group is in two splits; every index
 * is in exactly one; indices within a split are ascending.
 * @param input A dataset with a `groups` list, the groups themselves (one per sample), or a length (each
 *   sample its own group).
 */
export function splitByGroup(input: SplitInput, options: SplitOptions = {}): Split {
  if (options.by === 'image') return splitByImage(input, options);
  if (options.by === 'reference') return splitInFileOrder(typeof input === 'number' ? input : (input as { length: number }).length);
  if (options.by === 'folders') {
    throw new DataError("splitByGroup: by 'folders' is QUBIQ's two folders, not a split of one dataset; open each part with qubiqFolderPart(root, 'train' | 'test')", 'ERR_ARGUMENT');
  }
  if (options.by !== undefined && options.by !== 'group') {
    throw new DataError(`splitByGroup: option by must be 'group', 'image' or 'reference', got ${JSON.stringify(options.by)}`, 'ERR_ARGUMENT');
  }
  const fractions = fractionsOf(options);
  const seed = seedOf(options);
  const groups = groupsOf(input, 'splitByGroup');
  const members = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const list = members.get(g);
    if (list) list.push(i);
    else members.set(g, [i]);
  });
  const order = shuffle([...members.keys()], seed);
  const n = groups.length;
  const bounds = [fractions[0], fractions[0] + fractions[1]];
  const out: Split = { train: [], val: [], test: [] };
  const targets = [out.train, out.val, out.test];
  let done = 0;
  for (const g of order) {
    const idx = members.get(g)!;
    const mid = (done + idx.length / 2) / n;
    const s = mid < bounds[0]! ? 0 : mid < bounds[1]! ? 1 : 2;
    targets[s]!.push(...idx);
    done += idx.length;
  }
  for (const t of targets) t.sort((a, b) => a - b);
  return out;
}

/**
 * Image-level split: indices are shuffled (seeded) and cut into round(f_train·N), round(f_val·N) and the
 * rest. Images of one patient, even neighbouring slices of one nodule, can land in different splits.
 * (The reference does not shuffle: see `by: 'reference'`.)
 */
export function splitByImage(input: SplitInput, options: SplitOptions = {}): Split {
  const fractions = fractionsOf(options);
  const seed = seedOf(options);
  const n = typeof input === 'number' ? groupsOf(input, 'splitByImage').length : (input as { length: number }).length;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new DataError('splitByImage: expected a dataset, an array of groups or a length', 'ERR_ARGUMENT');
  }
  const order = shuffle(Array.from({ length: n }, (_, i) => i), seed);
  const nTrain = Math.round(fractions[0] * n);
  const nVal = Math.min(n - nTrain, Math.round(fractions[1] * n));
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  return {
    train: sort(order.slice(0, nTrain)),
    val: sort(order.slice(nTrain, nTrain + nVal)),
    test: sort(order.slice(nTrain + nVal)),
  };
}
