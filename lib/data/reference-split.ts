// The reference's LIDC split: no shuffling; in file order, validation is the first ⌊0.1·N⌋ images (see
// below for the rounding), test the next as many, training the rest. Neighbouring slices of one nodule
// sit next to each other in the file, so most of a series stays in one split, but a series cut at a
// boundary has slices on both sides of it.
import { DataError } from './errors.js';
import type { Split } from './split.js';

/**
 * The share of the images that validation and test each get, computed as the reference does, 1 − 0.9 in
 * floating point (0.09999999999999998): where 0.1·N is a whole number this gives one image fewer
 * (N = 10: no validation or test image at all), and the split follows the reference there too.
 */
export const referenceHeldOutFraction = 1.0 - 0.9;

/** Indices of the reference's split of `length` images in file order. */
export function splitInFileOrder(length: number): Split {
  if (!Number.isInteger(length) || length < 0) throw new DataError(`splitInFileOrder: length must be a non-negative integer, got ${length}`, 'ERR_ARGUMENT');
  const heldOut = Math.floor(referenceHeldOutFraction * length);
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  return { val: range(0, heldOut), test: range(heldOut, 2 * heldOut), train: range(2 * heldOut, length) };
}
