// `seqsam reproduce lidc|qubiq|synthetic`: the paper's tables from this package, every row trained and
// evaluated under the reference protocol, with the published numbers beside ours (lib/reproduce/).
import type { Argv, CommandModule } from 'yargs';

import { SeqsamError } from '../errors.js';
import { tinyConfig, type SamPreset } from '../model/config.js';
import { runReproduce } from '../reproduce/run-reproduce.js';
import { reproduceRuns } from '../reproduce/rows.js';
import { defaultSyntheticData, paperHyperParameters, reproduceDatasets, syntheticHyperParameters, type ReproduceDataset, type ReproduceSettings } from '../reproduce/settings.js';
import { setThreads } from '../runtime.js';
import { datasetSpecHelp, openDataset } from './dataset-spec.js';
import { interruptSignal } from './interrupt.js';
import { withModelOptions, type ModelArgs } from './model-flags.js';

interface ReproduceArgs extends ModelArgs {
  dataset: ReproduceDataset;
  data?: string;
  out?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  runs?: string[];
  cacheDir?: string;
  overwrite: boolean;
}

export const reproduceCommand: CommandModule<object, ReproduceArgs> = {
  command: 'reproduce <dataset>',
  describe: "Train and evaluate every row of the paper's tables under its protocol; a table with the published numbers beside ours",
  builder: (y) =>
    withModelOptions(y.positional('dataset', { choices: reproduceDatasets, describe: 'whose tables: lidc, qubiq, or synthetic (a quick end-to-end run on the tiny SAM)' }), ['preset', 'checkpoint', 'device', 'seed', 'threads', 'random-weights'])
      .option('data', { type: 'string', describe: `${datasetSpecHelp} (lidc: lidc:<pickle>; qubiq: qubiq:<folder> holding both release folders; default for synthetic: ${defaultSyntheticData})` })
      .option('out', { type: 'string', describe: 'output folder: runs/<run>/, table.md, results.json, report.html (default seqsam-reproduce-<dataset>)' })
      .option('epochs', { type: 'number', describe: `training epochs (default: the paper's ${paperHyperParameters.epochs}; synthetic ${syntheticHyperParameters.epochs})` })
      .option('batch-size', { type: 'number', describe: `images per step (default: the paper's ${paperHyperParameters.batchSize}; synthetic ${syntheticHyperParameters.batchSize})` })
      .option('lr', { type: 'number', describe: `peak learning rate, decayed linearly (default: the paper's ${paperHyperParameters.lr}; synthetic ${syntheticHyperParameters.lr})` })
      .option('runs', { type: 'array', string: true, describe: `only these runs (default all): ${reproduceRuns().map((r) => r.id).join(', ')}` })
      .option('cache-dir', { type: 'string', describe: 'embedding cache on disk (fill it with seqsam embed --protocol reference)' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'start over in an --out that holds a reproduction with other settings (finished rows are otherwise kept and skipped)' })
      .example('$0 reproduce lidc --data lidc:data_lidc.pickle --checkpoint medsam_vit_b.pth --cache-dir cache/lidc', "LIDC-IDRI's tables (MedSAM ViT-B)")
      .example('$0 reproduce synthetic', 'the whole pipeline in a few minutes on the CPU') as unknown as Argv<ReproduceArgs>,
  handler: async (args) => {
    const synthetic = args.dataset === 'synthetic';
    const data = args.data ?? (synthetic ? defaultSyntheticData : undefined);
    if (!data) throw new SeqsamError('ERR_ARGUMENT', `reproduce ${args.dataset}: --data is required (${args.dataset}:<${args.dataset === 'lidc' ? 'file.pickle' : 'folder'}>)`);
    // The tiny SAM on random weights stands in for SAM on the synthetic set; real data needs real weights.
    if (!synthetic && !args.checkpoint && !args.randomWeights) {
      throw new SeqsamError('ERR_ARGUMENT', `reproduce ${args.dataset}: --checkpoint is required (MedSAM ViT-B, medsam_vit_b.pth, as the paper); --random-weights runs without one, meaninglessly`);
    }
    const defaults = synthetic ? syntheticHyperParameters : paperHyperParameters;
    const preset = (args.preset ?? (synthetic ? undefined : 'vit_b')) as SamPreset | undefined;
    const settings: ReproduceSettings = {
      dataset: args.dataset,
      data,
      epochs: args.epochs ?? defaults.epochs,
      batchSize: args.batchSize ?? defaults.batchSize,
      lr: args.lr ?? defaults.lr,
      weightDecay: defaults.weightDecay,
      schedule: 'linear',
      protocol: 'reference',
      seed: args.seed,
      weights: args.checkpoint ?? 'random',
      architecture: preset ?? 'tiny',
    };
    for (const key of ['epochs', 'batchSize'] as const) {
      if (!Number.isInteger(settings[key]) || settings[key] < 1) throw new SeqsamError('ERR_ARGUMENT', `--${key === 'batchSize' ? 'batch-size' : key} must be a positive integer (got ${settings[key]})`);
    }
    if (!(settings.lr > 0) || !Number.isFinite(settings.lr)) throw new SeqsamError('ERR_ARGUMENT', `--lr must be a positive number (got ${settings.lr})`);
    if (args.threads !== undefined) setThreads({ torch: args.threads });
    const interrupt = interruptSignal('the reproduction (finished rows are kept; rerun to continue)');
    try {
      const result = await runReproduce({
        settings,
        out: args.out ?? `seqsam-reproduce-${args.dataset}`,
        openDataset,
        preset,
        config: preset ? undefined : tinyConfig,
        checkpoint: args.checkpoint,
        device: args.device,
        runs: args.runs,
        cacheDir: args.cacheDir,
        overwrite: args.overwrite,
        signal: interrupt.signal,
        progressBar: 'auto',
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(result.table);
      process.stderr.write(`${result.evaluated.length} row(s) evaluated, ${result.skipped.length} finished before and skipped\n`);
    } finally {
      interrupt.release();
    }
  },
};
