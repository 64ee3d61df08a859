// A conversion keeps every tensor of its input or refuses: after writing, each input tensor (weights,
// cell, optimizer state) must have its counterpart in the output, by its official name.
import { rm } from 'node:fs/promises';

import { detectFormat, mapCheckpointNames, readSafetensorsHeader } from '../checkpoint/index.js';
import { SeqsamError } from '../errors.js';

// Tensor names of a safetensors file, read from its header; null for a torch.save file (whose names need
// the whole file read; strict loading already refuses any tensor of it the model has no place for).
export async function tensorNames(path: string): Promise<string[] | null> {
  return (await detectFormat(path)) === 'safetensors' ? (await readSafetensorsHeader(path)).entries.map((e) => e.name) : null;
}

// Throws ERR_CHECKPOINT (and removes `output`) when an input tensor did not make it into `output`.
export async function checkNothingDropped(input: string, inputNames: readonly string[] | null, output: string): Promise<void> {
  if (!inputNames) return;
  const outputNames = (await readSafetensorsHeader(output)).entries.map((e) => e.name);
  const { unmatched } = mapCheckpointNames(inputNames, outputNames);
  if (!unmatched.length) return;
  await rm(output, { force: true });
  const examples = unmatched.slice(0, 4).join(', ') + (unmatched.length > 4 ? `, … (${unmatched.length - 4} more)` : '');
  const hint = unmatched.some((n) => /^(sam\.)?cell\./.test(n)) ? ' (a SeqSAM cell: convert with --model seqsam)' : '';
  throw new SeqsamError('ERR_CHECKPOINT', `convert: ${input}: ${unmatched.length} of its ${inputNames.length} tensors would be lost${hint}: ${examples}; nothing written`);
}
