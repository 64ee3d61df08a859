// The model flags on the command line (architecture, weights, objective, device, threads), declared without
// loading any model code; each command lists only the flags it uses.
import type { Argv } from 'yargs';

import { SeqsamError } from '../errors.js';
import { presets } from '../model/config.js';

export const objectives = ['seqsam', 'sam-mcl', 'sam-det'] as const;

export type ModelFlag = 'model' | 'preset' | 'config' | 'checkpoint' | 'device' | 'seed' | 'threads' | 'random-weights';

export const allModelFlags: readonly ModelFlag[] = ['model', 'preset', 'config', 'checkpoint', 'device', 'seed', 'threads'];

export interface ModelArgs {
  model?: (typeof objectives)[number];
  preset?: string;
  config?: string;
  checkpoint?: string;
  device: string;
  seed: number;
  threads?: number;
  randomWeights?: boolean;
}

const definitions: Record<ModelFlag, object> = {
  model: { choices: objectives, describe: "what to train or run: SeqSAM, or a baseline (default: the checkpoint's, else seqsam)" },
  preset: { type: 'string', choices: [...presets], describe: 'SAM architecture (default: the one a seqsam checkpoint records, else the tiny SAM)' },
  config: { type: 'string', describe: 'SAM architecture as a JSON file, or "tiny" (the small embedded SAM)' },
  checkpoint: { type: 'string', describe: 'weights: SAM/MedSAM .pth or safetensors, or a seqsam checkpoint' },
  device: { type: 'string', default: 'cpu', describe: 'cpu, cuda or cuda:N' },
  seed: { type: 'number', default: 0, describe: 'seed of initialisation, sampling and pooling' },
  threads: { type: 'number', describe: 'CPU threads (default: all cores)' },
  'random-weights': { type: 'boolean', default: false, describe: 'run without --checkpoint on randomly initialised weights (results are meaningless; for smoke tests)' },
};

export function withModelOptions<T>(y: Argv<T>, flags: readonly ModelFlag[] = allModelFlags): Argv<T> {
  let out = y;
  for (const flag of flags) out = out.option(flag, definitions[flag]) as Argv<T>;
  if (flags.includes('preset') && flags.includes('config')) out = out.conflicts('preset', 'config');
  return out.group([...flags], 'Model:');
}

// Without weights a model is randomly initialised and its output is noise: refuse unless asked for.
export function requireWeights(args: ModelArgs, command: string): void {
  if (args.checkpoint) return;
  if (!args.randomWeights) {
    throw new SeqsamError('ERR_ARGUMENT', `${command}: give --checkpoint (trained weights); without one the model is randomly initialised and its ${command === 'eval' ? 'metrics' : 'masks'} mean nothing (--random-weights runs it anyway)`);
  }
  process.stderr.write(`seqsam ${command}: no --checkpoint: running on RANDOM weights (--random-weights); the results mean nothing\n`);
}
