// Every rank starts from rank 0's weights, as DistributedDataParallel's constructor ensures: the model's
// parameters and buffers are broadcast in place through their live views, before anything (the embedding
// cache included) runs the model.
import { disposeAll, type NamedTensors } from '../tensor.js';
import { broadcastNative } from './process-group.js';

/** Overwrites this rank's weights with rank 0's (every rank calls it, with the same architecture). */
export async function broadcastWeights(model: { stateDict(scope?: 'sam' | 'all'): NamedTensors }): Promise<void> {
  const views = model.stateDict('all');
  try {
    await broadcastNative(Object.keys(views).sort().map((name) => views[name]!.handle), 0);
  } finally {
    disposeAll(views);
  }
}
