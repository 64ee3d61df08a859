// `seqsam train`: SeqSAM or a baseline on a dataset, from cached embeddings, with checkpoints every epoch
// (atomic), evaluation on the validation split (and always after the last step), progress on stderr (a bar
// on a terminal, periodic lines in a log), and Ctrl-C leaving a resumable checkpoint. An existing run in
// --out is continued (--resume) or replaced (--overwrite), never silently overwritten.
import { join } from 'node:path';

import type { Argv, CommandModule } from 'yargs';

import { joinRankFromEnv, launchRanksIfAsked, leaveRank, nprocOption } from '../distributed/cli-ranks.js';
import { SeqsamError } from '../errors.js';
import type { TrainingOptions } from '../model/seqsam.js';
import { train, type BestMetric } from '../train/trainer.js';
import { datasetSpecHelp } from './dataset-spec.js';
import { interruptSignal } from './interrupt.js';
import { withModelOptions, type ModelArgs } from './model-flags.js';
import { loadModel } from './model-options.js';
import { createProgressReport, parseProgressEvery, progressOption, type ProgressMode } from './progress-report.js';
import { prepareRunFolder } from './run-folder.js';
import { splitMetadata, splitByChoices, type SplitBy } from '../data/split-settings.js';
import { protocolOption, protocolSplitBy, type ProtocolFlag } from './protocol-flag.js';
import { openTrainingParts } from './split-parts.js';

interface TrainArgs extends ModelArgs {
  data: string;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: 'linear' | 'cosine' | 'constant';
  warmup: number;
  numMasks: number;
  evalMasks?: number;
  evalEvery?: number;
  saveEvery?: number;
  keep: number;
  overwrite: boolean;
  pooling: NonNullable<TrainingOptions['pooling']>;
  matching: NonNullable<TrainingOptions['matching']>;
  feedback: NonNullable<TrainingOptions['feedback']>;
  reduction?: NonNullable<TrainingOptions['reduction']>;
  weightDecay: number;
  gradClip?: number;
  bestMetric: BestMetric;
  boxFrom: 'random-label' | 'union';
  jitter: number;
  fractions: number[];
  splitBy?: SplitBy;
  protocol?: ProtocolFlag;
  resume?: string;
  cacheDir?: string;
  progress: ProgressMode | boolean;
  progressEvery: string;
  nproc: number;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: 'Train SeqSAM (or a baseline) on a dataset',
  builder: (y) =>
    withModelOptions(y)
      .option('data', { type: 'string', demandOption: true, describe: datasetSpecHelp })
      .option('out', { type: 'string', default: 'seqsam-run', describe: 'folder for checkpoints (last/best.safetensors) and the log' })
      .option('epochs', { type: 'number', default: 10, describe: 'passes over the training split' })
      .option('batch-size', { type: 'number', default: 4, describe: 'images per optimizer step' })
      .option('lr', { type: 'number', default: 1e-4, describe: 'peak learning rate' })
      .option('schedule', { choices: ['linear', 'cosine', 'constant'] as const, default: 'linear' as const, describe: 'learning rate over the steps after warm-up: linear decay to 0, cosine decay, or constant' })
      .option('warmup', { type: 'number', default: 0, describe: 'warm-up steps' })
      .option('num-masks', { type: 'number', default: 4, describe: 'M, masks per image in training (SeqSAM)' })
      .option('eval-masks', { type: 'number', describe: 'M at validation (default: --num-masks)' })
      .option('eval-every', { type: 'number', describe: 'validate every N steps (default: each epoch; 0: never)' })
      .option('save-every', { type: 'number', describe: 'also checkpoint every N steps, kept as step-NNNNNNN.safetensors' })
      .option('keep', { type: 'number', default: 3, describe: 'step-numbered checkpoints kept (the newest; 0 keeps all)' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'replace a run already in --out (its checkpoints and log)' })
      .option('pooling', { choices: ['strided', 'reference-strided', 'random', 'first-k'] as const, default: 'strided' as const, describe: 'which K of the M hypotheses are matched to the K raters (SeqSAM)' })
      .option('matching', { choices: ['hungarian', 'fixed'] as const, default: 'hungarian' as const, describe: 'pair picked hypotheses with raters by Hungarian matching on Dice, or in order' })
      .option('feedback', { choices: ['backprop', 'stop-gradient'] as const, default: 'backprop' as const, describe: 'gradients through the masks fed back to the next step (BPTT), or not' })
      .option('reduction', { choices: ['sum', 'mean'] as const, describe: 'loss over the batch (default: sum for SeqSAM, mean for baselines)' })
      .option('weight-decay', { type: 'number', default: 0.01, describe: 'AdamW weight decay' })
      .option('grad-clip', { type: 'number', describe: 'clip the gradient norm' })
      .option('best-metric', { choices: ['ged', 'dice', 'diceMax', 'hmIou'] as const, default: 'ged' as const, describe: 'validation metric that picks best.safetensors (GED: lower is better)' })
      .option('box-from', { choices: ['random-label', 'union'] as const, default: 'random-label' as const, describe: 'box prompt around one rater\'s mask or all' })
      .option('jitter', { type: 'number', default: 0, describe: 'random box enlargement in pixels' })
      .option('split-by', { choices: splitByChoices, describe: "keep each patient in one split (default), shuffle single images, the reference's file order (val 10 %, test 10 %, train the rest; the default under --protocol reference), or QUBIQ's folders (train on its training folder, none validated; the default for qubiq: under --protocol reference)" })
      .option('protocol', protocolOption)
      .option('fractions', { type: 'array', number: true, default: [0.8, 0.1, 0.1], describe: 'train/val/test fractions (split by patient)' })
      .option('resume', { type: 'string', describe: 'continue from a checkpoint (no value: <out>/last.safetensors)' })
      .option('cache-dir', { type: 'string', describe: 'embedding cache on disk (shared with `seqsam embed`)' })
      .option('progress', progressOption)
      .option('progress-every', { type: 'string', default: '30s', describe: 'progress lines (not on a terminal): every N steps (50) or seconds (30s)' })
      .option('nproc', nprocOption)
      .example('$0 train --data lidc:lidc.pickle --preset vit_b --checkpoint medsam_vit_b.pth --epochs 20 --out runs/lidc', 'SeqSAM on LIDC-IDRI')
      .example('$0 train --data lidc:lidc.pickle --preset vit_b --checkpoint medsam_vit_b.pth --protocol reference --epochs 1 --batch-size 2 --out runs/lidc-ref', "the reference code's protocol")
      .example('$0 train --data synthetic --model sam-mcl --epochs 5', 'a baseline on the embedded synthetic set')
      .example('$0 train --data lidc:lidc.pickle --preset vit_b --out runs/lidc --resume', 'continue after Ctrl-C') as unknown as Argv<TrainArgs>,
  handler: async (args) => {
    if (await launchRanksIfAsked(args)) return;
    const every = parseProgressEvery(args.progressEvery);
    await prepareRunFolder(args.out, { resume: args.resume !== undefined, overwrite: args.overwrite });
    const splitBy = protocolSplitBy(args.protocol, args.splitBy, 'group', args.data);
    const { dataset, ...split } = await openTrainingParts(args.data, { seed: args.seed, fractions: args.fractions, by: splitBy }, { protocol: args.protocol });
    const resume = args.resume === undefined ? undefined : args.resume === '' ? join(args.out, 'last.safetensors') : args.resume;
    if (resume && args.checkpoint) throw new SeqsamError('ERR_ARGUMENT', '--resume restores weights and optimizer from its checkpoint; drop --checkpoint');
    const training: TrainingOptions = {
      objective: args.model,
      numMasks: args.numMasks,
      pooling: args.pooling,
      matching: args.matching,
      feedback: args.feedback,
      reduction: args.reduction,
      lr: args.lr,
      weightDecay: args.weightDecay,
      gradClip: args.gradClip,
      seed: args.seed,
      protocol: args.protocol,
    };
    for (const key of Object.keys(training) as (keyof TrainingOptions)[]) if (training[key] === undefined) delete training[key];
    const group = await joinRankFromEnv(args); // started as a rank: train data-parallel
    const model = await loadModel({ ...args, checkpoint: resume ? undefined : args.checkpoint, model: args.model }, training);
    const interrupt = interruptSignal('training (a resumable checkpoint is being written)');
    const report = createProgressReport({ mode: args.progress, every });
    try {
      const result = await train({
        model,
        dataset,
        split: { train: split.train, val: split.val },
        epochs: args.epochs,
        batchSize: args.batchSize,
        numMasks: args.numMasks,
        evalEvery: args.evalEvery,
        evalNumMasks: args.evalMasks,
        saveEvery: args.saveEvery,
        keep: args.keep,
        metadata: splitMetadata({ seed: args.seed, fractions: args.fractions, by: splitBy }),
        schedule: { type: args.schedule, lr: args.lr, warmupSteps: args.warmup },
        seed: args.seed,
        signal: interrupt.signal,
        logFile: join(args.out, 'train.jsonl'),
        checkpointDir: args.out,
        bestMetric: args.bestMetric,
        resume,
        cache: args.cacheDir ? { dir: args.cacheDir } : undefined,
        boxFrom: args.boxFrom,
        jitter: args.jitter,
        progressBar: false,
        onProgress: (e) => report.update(e),
        onEvaluate: (e) => report.log(`step ${e.step}: validation ${e.metric} ${e.value.toFixed(4)}${e.improved ? ' (best so far)' : ''}`),
        distributed: group ?? undefined,
      });
      report.stop();
      process.stdout.write(`trained ${result.steps} steps; last checkpoint ${result.lastCheckpoint ?? '-'}; best ${result.best ? `${result.best.metric} ${result.best.value.toFixed(4)} at step ${result.best.step}` : '-'}\n`);
      // The reference keeps the final weights: say which file stands for the run.
      if (args.protocol === 'reference') process.stdout.write(`protocol reference: evaluate the final model, ${join(args.out, 'last.safetensors')} (seqsam eval --checkpoint ${args.out})\n`);
      await leaveRank(group, true);
    } finally {
      await leaveRank(group, false);
      report.stop();
      interrupt.release();
      model.dispose();
    }
  },
};
