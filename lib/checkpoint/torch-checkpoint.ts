// PyTorch checkpoints written by torch.save (zip format): state dicts, also wrapped as
// {"model": ...} or {"state_dict": ...}. Read natively by LibTorch's unpickler.
import { nativeCall } from '../errors.js';
import { addon } from '../native.js';
import { type NamedTensors, wrapNamed } from '../tensor.js';

export async function readTorchCheckpoint(path: string): Promise<NamedTensors> {
  return wrapNamed(await nativeCall(() => addon().readTorchCheckpoint(path)));
}
