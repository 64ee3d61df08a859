// The demo's stand-in for SAM's pretraining: the tiny SAM starts from random weights, so before the three
// models are fine-tuned its prompt encoder and mask decoder are trained briefly for one mask per box on the
// synthetic training images (the encoder stays frozen, as in fine-tuning), and the multi-mask heads take the
// single-mask head's weights (spread-heads.ts). SeqSAM, SAM-MCL and SAM then all start from these weights, as
// the paper's models all start from a pretrained SAM; without it SAM-MCL's extra heads start from noise and
// two of them rarely win an image.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { writeSafetensors } from '../checkpoint/safetensors.js';
import type { Dataset } from '../data/types.js';
import type { SamConfig } from '../model/config.js';
import { SeqSam } from '../model/seqsam.js';
import type { AbortSignalLike } from '../platform-types.js';
import { disposeAll } from '../tensor.js';
import type { EmbeddingCache } from '../train/embedding-cache.js';
import { train } from '../train/trainer.js';
import { headsFromSingleMask } from './spread-heads.js';

export interface PretrainOptions {
  config: SamConfig;
  seed: number;
  dataset: Dataset;
  /** The images pretrained on: the demo's training split (the test images stay unseen). */
  indices: readonly number[];
  epochs: number;
  batchSize: number;
  lr: number;
  cache: EmbeddingCache;
  /** Folder of the weights file (pretrained-sam.safetensors) and the log (logs/pretrain.jsonl). */
  out: string;
  signal?: AbortSignalLike;
  progressBar?: boolean | 'auto';
}

export interface PretrainResult {
  /** SAM's weights alone (no recurrent cell, no optimizer state): each model fine-tuned from it starts afresh. */
  checkpoint: string;
  losses: number[];
  seconds: number;
}

/** Trains the tiny SAM single-mask on the training images and writes its weights. */
export async function pretrainSam(options: PretrainOptions): Promise<PretrainResult> {
  const started = performance.now();
  const model = await SeqSam.load({ config: options.config, seed: options.seed, training: { objective: 'sam-det', lr: options.lr, seed: options.seed } });
  try {
    const result = await train({
      model,
      dataset: options.dataset,
      split: { train: [...options.indices], val: [] },
      epochs: options.epochs,
      batchSize: options.batchSize,
      seed: options.seed,
      schedule: { type: 'linear', lr: options.lr },
      cache: options.cache,
      logFile: join(options.out, 'logs', 'pretrain.jsonl'),
      signal: options.signal,
      progressBar: options.progressBar ?? 'auto',
    });
    const checkpoint = join(options.out, 'checkpoints', 'pretrained-sam.safetensors');
    await mkdir(join(options.out, 'checkpoints'), { recursive: true });
    const weights = model.stateDict('sam');
    const heads = await headsFromSingleMask(weights, options.seed);
    try {
      await writeSafetensors(checkpoint, { ...weights, ...heads }, { format: 'seqsam', config: JSON.stringify(model.config), pretraining: 'single-mask SAM on the synthetic training images; multi-mask heads from the single-mask head' });
    } finally {
      disposeAll(weights);
      disposeAll(heads);
    }
    return { checkpoint, losses: result.losses, seconds: (performance.now() - started) / 1000 };
  } finally {
    model.dispose();
  }
}
