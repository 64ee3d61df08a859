// `seqsam eval`: a model's multi-rater metrics on a dataset split. The split is the one `train` made: the
// checkpoint records its seed, fractions and grouping, and flags given here override them. A run trained
// under --protocol reference is evaluated under it too (its data reading and split) unless told otherwise.
import { writeFile } from 'node:fs/promises';

import type { Argv, CommandModule } from 'yargs';

import { SeqsamError } from '../errors.js';
import { format } from '../metrics.js';
import { evaluate } from '../train/evaluate.js';
import { datasetSpecHelp } from './dataset-spec.js';
import { interruptSignal } from './interrupt.js';
import { requireWeights, withModelOptions, type ModelArgs } from './model-flags.js';
import { checkpointMetadata, loadModel } from './model-options.js';
import { defaultSplit, recordedSplit, splitByChoices, type SplitBy, type SplitSettings } from '../data/split-settings.js';
import { protocolCheckpoint, protocolOption, protocolSplitBy, type ProtocolFlag } from './protocol-flag.js';
import { openEvaluationPart } from './split-parts.js';

interface EvalArgs extends ModelArgs {
  data: string;
  split: 'train' | 'val' | 'test' | 'all';
  fractions?: number[];
  splitBy?: SplitBy;
  protocol?: ProtocolFlag;
  splitSeed?: number;
  numMasks: number[];
  batchSize: number;
  boxFrom: 'random-label' | 'union';
  cacheDir?: string;
  json: boolean;
  jsonOut?: string;
}

// Flags first, then what the checkpoint recorded, then train's defaults.
function splitSettings(args: EvalArgs, recorded: SplitSettings | null, protocol: ProtocolFlag | undefined): SplitSettings & { source: string } {
  const base = recorded ?? defaultSplit;
  const given = args.fractions !== undefined || args.splitBy !== undefined || args.splitSeed !== undefined;
  return {
    // Before splits were recorded, train split with its --seed: the same --seed here finds that split.
    seed: args.splitSeed ?? (recorded ? recorded.seed : args.seed),
    fractions: args.fractions ?? base.fractions,
    // An explicit --protocol reference asks for its split over the recorded one; one inherited from the
    // checkpoint comes with the split recorded beside it.
    by: args.splitBy ?? (args.protocol || !recorded ? protocolSplitBy(protocol, undefined, base.by, args.data) : recorded.by),
    source: given ? 'as given' : recorded ? 'as recorded in the checkpoint' : 'the defaults',
  };
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a model: Dice, Dmax, GED, diversity, collective insight, HM-IoU',
  builder: (y) =>
    withModelOptions(y, ['model', 'preset', 'config', 'checkpoint', 'device', 'seed', 'threads', 'random-weights'])
      .option('data', { type: 'string', demandOption: true, describe: datasetSpecHelp })
      .option('split', { choices: ['train', 'val', 'test', 'all'] as const, default: 'test' as const, describe: 'which part of the split `train` made (its settings come from the checkpoint)' })
      .option('split-by', { choices: splitByChoices, describe: "keep each patient in one split, shuffle single images, the reference's file order, or QUBIQ's folders (test: the validation folder; train: the training folder) (default: as recorded in the checkpoint, else group; under --protocol reference: folders for qubiq:, else reference)" })
      .option('protocol', { ...protocolOption, describe: `${protocolOption.describe} (default: as the checkpoint was trained; a run folder as --checkpoint gives its last.safetensors under it, best.safetensors otherwise)` })
      .option('fractions', { type: 'array', number: true, describe: 'train/val/test fractions (default: as recorded in the checkpoint, else 0.8 0.1 0.1)' })
      .option('split-seed', { type: 'number', describe: 'seed of the split (default: as recorded in the checkpoint, else --seed)' })
      .option('num-masks', { type: 'array', number: true, default: [4], describe: 'M hypotheses (SeqSAM); several values give several rows' })
      .option('batch-size', { type: 'number', default: 4, describe: 'images per evaluation batch' })
      .option('box-from', { choices: ['random-label', 'union'] as const, default: 'random-label' as const, describe: "box prompt around one rater's mask or all" })
      .option('cache-dir', { type: 'string', describe: 'embedding cache on disk' })
      .option('json', { type: 'boolean', default: false, describe: 'print the results (per image too) as JSON on stdout instead of the table' })
      .option('json-out', { type: 'string', describe: 'also write the results (per image too) to this JSON file' })
      .example('$0 eval --data lidc:lidc.pickle --checkpoint runs/lidc/best.safetensors --num-masks 4 10', "the paper's table")
      .example('$0 eval --data lidc:lidc.pickle --checkpoint runs/lidc-ref --protocol reference --num-masks 4 10', "as the reference evaluates: the final model, its split and data reading") as unknown as Argv<EvalArgs>,
  handler: async (args) => {
    requireWeights(args, 'eval');
    if (args.checkpoint) args.checkpoint = await protocolCheckpoint(args.checkpoint, args.protocol);
    const metadata = args.checkpoint ? await checkpointMetadata(args.checkpoint) : {};
    const protocol = args.protocol ?? (metadata.protocol === 'reference' ? 'reference' : undefined);
    if (protocol && !args.protocol) process.stderr.write(`seqsam eval: ${args.checkpoint} was trained under protocol ${protocol}: its data reading and split apply (as recorded)\n`);
    const settings = splitSettings(args, args.checkpoint ? recordedSplit(args.checkpoint, metadata) : null, protocol);
    const { dataset, indices } = await openEvaluationPart(args.data, settings, args.split, { protocol });
    if (args.split !== 'all' && !indices.length) {
      throw new SeqsamError(
        'ERR_DATA',
        `eval: the ${args.split} split of ${args.data} is empty: ${dataset.length} images split by ${settings.by} with fractions ${settings.fractions.join('/')} and seed ${settings.seed} (${settings.source}); choose --split, --fractions or --split-by`,
      );
    }
    const model = await loadModel(args);
    const interrupt = interruptSignal('the evaluation');
    const results = [];
    try {
      for (const numMasks of args.numMasks) {
        const result = await evaluate(model, dataset, { indices, numMasks, batchSize: args.batchSize, boxFrom: args.boxFrom, seed: args.seed, cache: args.cacheDir ? { dir: args.cacheDir } : undefined, signal: interrupt.signal });
        const table = `${dataset.name} ${args.split} (${result.count} images), ${result.masks} mask(s) per image:\n${format(result)}\n\n`;
        (args.json ? process.stderr : process.stdout).write(table);
        results.push({ numMasks: result.masks, count: result.count, loss: result.loss, mean: result.mean, std: result.std, ids: result.ids, perImage: result.perImage });
        if (model.masksPerPrompt(numMasks) !== numMasks) {
          // A baseline's mask count does not vary: one row says it all.
          const rest = args.numMasks.filter((m) => m !== numMasks);
          process.stderr.write(`seqsam eval: a ${model.training?.objective} model gives ${result.masks} mask(s) per image whatever --num-masks asks${rest.length ? ` (skipped: ${rest.join(', ')})` : ''}\n`);
          break;
        }
      }
      const json = `${JSON.stringify({ data: args.data, split: args.split, splitSettings: { seed: settings.seed, fractions: settings.fractions, by: settings.by }, ...(protocol ? { protocol } : {}), checkpoint: args.checkpoint, model: model.training?.objective, results }, null, 2)}\n`;
      if (args.json) process.stdout.write(json);
      if (args.jsonOut) await writeFile(args.jsonOut, json);
    } finally {
      interrupt.release();
      model.dispose();
    }
  },
};
