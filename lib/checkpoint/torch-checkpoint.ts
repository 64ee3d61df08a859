// PyTorch checkpoints written by torch.save (zip format): state dicts, also wrapped as
// {"model": ...} or {"state_dict": ...}. Read natively by LibTorch's unpickler.
import { nativeCall } from '../errors.js';
import { addon } from '../native.js';
import { type NamedTensors, wrapNamed } from '../tensor.js';

/**
 * Reads a `torch.save` checkpoint (zip format) into CPU tensors: a state dict, also one wrapped as
 * `{"model": ...}` or `{"state_dict": ...}`. Read natively by LibTorch's unpickler, off the JS thread.
 */
export async function readTorchCheckpoint(path: string): Promise<NamedTensors> {
  return wrapNamed(await nativeCall(() => addon().readTorchCheckpoint(path)));
}
