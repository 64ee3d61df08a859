// Model options shared by the commands that build a model: architecture (preset, config file, or the one
// a seqsam checkpoint records), weights, objective, device and threads.
import { readFile } from 'node:fs/promises';

import { detectFormat, readSafetensorsHeader } from '../checkpoint/index.js';
import { parseMetadataJson } from '../checkpoint/metadata-json.js';
import { SeqsamError } from '../errors.js';
import { tinyConfig, type SamConfig, type SamPreset } from '../model/config.js';
import { SeqSam, type TrainingOptions } from '../model/seqsam.js';
import { info, setThreads } from '../runtime.js';

export { objectives, type ModelArgs } from './model-flags.js';
import type { ModelArgs } from './model-flags.js';

// What a seqsam checkpoint records about itself (nothing for SAM/MedSAM weights).
export async function checkpointMetadata(path: string): Promise<Record<string, string>> {
  return (await detectFormat(path)) === 'safetensors' ? (await readSafetensorsHeader(path)).metadata : {};
}

export async function architecture(args: ModelArgs, metadata: Record<string, string>): Promise<{ preset?: SamPreset; config?: SamConfig }> {
  if (args.preset) return { preset: args.preset as SamPreset };
  if (args.config === 'tiny') return { config: tinyConfig };
  if (args.config) {
    try {
      return { config: JSON.parse(await readFile(args.config, 'utf8')) as SamConfig };
    } catch (error) {
      throw new SeqsamError('ERR_ARGUMENT', `--config ${args.config}: not a readable JSON file (${(error as Error).message})`);
    }
  }
  if (metadata.config) return { config: parseMetadataJson<SamConfig>(args.checkpoint ?? 'checkpoint', metadata, 'config') };
  if (args.checkpoint) throw new SeqsamError('ERR_ARGUMENT', `--checkpoint ${args.checkpoint} does not record its architecture: give --preset (vit_b, vit_l, vit_h) or --config`);
  return { config: tinyConfig };
}

// Builds the model; `training` overrides (or completes) the setup a checkpoint records.
export async function loadModel(args: ModelArgs, training?: TrainingOptions): Promise<SeqSam> {
  if (args.threads !== undefined) {
    const most = Math.max(1, info().hardwareThreads);
    if (!Number.isInteger(args.threads) || args.threads < 1 || args.threads > most) {
      throw new SeqsamError('ERR_ARGUMENT', `--threads must be an integer in 1..${most}, the machine's hardware threads (got ${args.threads})`);
    }
    setThreads({ torch: args.threads });
  }
  const metadata = args.checkpoint ? await checkpointMetadata(args.checkpoint) : {};
  const recorded = args.checkpoint ? parseMetadataJson<TrainingOptions>(args.checkpoint, metadata, 'training') : undefined;
  const objective = args.model ?? training?.objective ?? recorded?.objective ?? 'seqsam';
  const setup: TrainingOptions = { ...recorded, ...training, objective, seed: training?.seed ?? recorded?.seed ?? args.seed };
  const model = await SeqSam.load({ ...(await architecture(args, metadata)), device: args.device, seed: args.seed, training: setup });
  try {
    if (args.checkpoint) await model.restore(args.checkpoint, { strict: true });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}
