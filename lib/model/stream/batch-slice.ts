// Item i of a batched tensor, keeping a leading axis of 1: each request's result has the shape a
// one-request call would have given it.
import { select, stack } from '../../ops.js';
import type { Tensor } from '../../tensor.js';

export function sliceBatch(tensor: Tensor, index: number): Tensor {
  const item = select(tensor, 0, index);
  try {
    return stack([item]);
  } finally {
    item.dispose();
  }
}
