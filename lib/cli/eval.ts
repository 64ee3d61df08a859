// `seqsam eval`: a model's multi-rater metrics on a dataset split.
import { writeFile } from 'node:fs/promises';

import type { Argv, CommandModule } from 'yargs';

import { splitByGroup } from '../data/split.js';
import { format } from '../metrics.js';
import { evaluate } from '../train/evaluate.js';
import { datasetSpecHelp, openDataset } from './dataset-spec.js';
import { interruptSignal } from './interrupt.js';
import { loadModel, withModelOptions, type ModelArgs } from './model-options.js';

interface EvalArgs extends ModelArgs {
  data: string;
  split: 'train' | 'val' | 'test' | 'all';
  fractions: number[];
  splitBy: 'group' | 'image';
  numMasks: number[];
  batchSize: number;
  boxFrom: 'random-label' | 'union';
  cacheDir?: string;
  json?: string;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a model: Dice, Dmax, GED, diversity, collective insight, HM-IoU',
  builder: (y) =>
    withModelOptions(y)
      .option('data', { type: 'string', demandOption: true, describe: datasetSpecHelp })
      .option('split', { choices: ['train', 'val', 'test', 'all'] as const, default: 'test' as const, describe: 'which part (the split `train` made with the same --seed and --fractions)' })
      .option('split-by', { choices: ['group', 'image'] as const, default: 'group' as const, describe: 'keep each patient in one split, or split images (as the reference)' })
      .option('fractions', { type: 'array', number: true, default: [0.8, 0.1, 0.1] })
      .option('num-masks', { type: 'array', number: true, default: [4], describe: 'M hypotheses (SeqSAM); several values give several rows' })
      .option('batch-size', { type: 'number', default: 4 })
      .option('box-from', { choices: ['random-label', 'union'] as const, default: 'random-label' as const })
      .option('cache-dir', { type: 'string', describe: 'embedding cache on disk' })
      .option('json', { type: 'string', describe: 'also write the results (per image too) to this JSON file' })
      .example('$0 eval --data lidc:lidc.pickle --checkpoint runs/lidc/best.safetensors --num-masks 4 10', 'the paper\'s table') as unknown as Argv<EvalArgs>,
  handler: async (args) => {
    const dataset = await openDataset(args.data);
    const split = splitByGroup(dataset, { seed: args.seed, fractions: args.fractions, by: args.splitBy });
    const indices = args.split === 'all' ? undefined : split[args.split];
    const model = await loadModel(args);
    const interrupt = interruptSignal('the evaluation');
    const results = [];
    try {
      for (const numMasks of args.numMasks) {
        const result = await evaluate(model, dataset, { indices, numMasks, batchSize: args.batchSize, boxFrom: args.boxFrom, seed: args.seed, cache: args.cacheDir ? { dir: args.cacheDir } : undefined, signal: interrupt.signal });
        process.stdout.write(`${dataset.name} ${args.split} (${result.count} images), ${result.masks} mask(s) per image:\n${format(result)}\n\n`);
        results.push({ numMasks: result.masks, count: result.count, loss: result.loss, mean: result.mean, std: result.std, ids: result.ids, perImage: result.perImage });
        if (model.masksPerPrompt(numMasks) !== numMasks) break; // a baseline's mask count does not vary
      }
      if (args.json) await writeFile(args.json, `${JSON.stringify({ data: args.data, split: args.split, model: model.training?.objective, results }, null, 2)}\n`);
    } finally {
      interrupt.release();
      model.dispose();
    }
  },
};
