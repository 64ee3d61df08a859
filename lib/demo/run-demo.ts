// The embedded demo: a synthetic multi-rater dataset, SeqSAM and its two baselines fine-tuned on the CPU
// from one small SAM, evaluated on held-out patients, and an HTML report with metrics, curves and montages.
// Needs no download: the SAM's encoder is randomly initialised (frozen), which the synthetic task allows,
// and a short single-mask pretraining of its decoder stands in for SAM's pretraining (pretrain-sam.ts).
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { AbortSignalLike } from '../platform-types.js';
import { ensureDirectory } from '../fs-paths.js';
import { synthetic } from '../data/synthetic.js';
import { splitByGroup } from '../data/split.js';
import { splitMetadata, type SplitSettings } from '../data/split-settings.js';
import { SeqsamError } from '../errors.js';
import { tinyConfig, type SamConfig } from '../model/config.js';
import { SeqSam, type TrainingOptions } from '../model/seqsam.js';
import { maskColor } from '../report/colors.js';
import { reportHtml, type ReportRow } from '../report/html.js';
import { renderCharts, smooth, type Series } from '../report/plot.js';
import { EmbeddingCache } from '../train/embedding-cache.js';
import { evaluate, type EvaluationResult } from '../train/evaluate.js';
import { train, type EvaluationEvent } from '../train/trainer.js';
import { pretrainSam } from './pretrain-sam.js';
import { sampleMontage } from './sample-montage.js';

/** A training objective: SeqSAM or one of its baselines. */
export type Objective = NonNullable<TrainingOptions['objective']>;

/**
 * Options of {@link runDemo}: a synthetic multi-rater dataset (4 raters, split 0.75/0.1/0.15 by patient,
 * recorded in the checkpoints), SeqSAM and its baselines trained on a small randomly initialised SAM,
 * evaluated on the test split, and an HTML report.
 */
export interface DemoOptions {
  /** Output folder (default ./seqsam-demo): report.html, montages/, checkpoints/, logs/. */
  out?: string;
  /** Synthetic images (default 160; enough for a non-empty test split, at least 16). */
  count?: number;
  /** Side of the synthetic images in pixels (default 64). */
  size?: number;
  /** Seed of everything: the data, the split, the models and training (default 0). */
  seed?: number;
  /** Training epochs per model (default 20). */
  epochs?: number;
  /**
   * Epochs of single-mask pretraining of the SAM before the models are fine-tuned from it (default 8; 0:
   * the models start from the random initialisation).
   */
  pretrainEpochs?: number;
  /** Images per training step (default 8). */
  batchSize?: number;
  /** Peak learning rate of a linear decay to 0 (default 2e-3). */
  lr?: number;
  /** SeqSAM hypotheses in training (default 4); also the baselines' evaluation M. */
  numMasks?: number;
  /** SeqSAM hypotheses at evaluation, one result each (default [numMasks, 2 × numMasks]). */
  evalMasks?: readonly number[];
  /** Which models to train (default all three: 'seqsam', 'sam-mcl', 'sam-det'). */
  models?: readonly Objective[];
  /** Test images drawn as montages in the report (default 6). */
  montages?: number;
  /** The SAM architecture (default {@link tinyConfig}). */
  config?: SamConfig;
  /** Stops training or evaluation with `ERR_ABORTED`. */
  signal?: AbortSignalLike;
  /** The training progress bar, as `train.train`'s `progressBar` (default 'auto'). */
  progressBar?: boolean | 'auto';
  /** Receives one line per stage (dataset, each model's training and results). Default: silent. */
  log?: (line: string) => void;
}

/** One evaluated model of the demo. */
export interface DemoModelResult {
  /** Its title in the report, e.g. 'SeqSAM, M=4'. */
  name: string;
  /** Its training objective. */
  objective: Objective;
  /** Masks scored per image. */
  masks: number;
  /** Its metrics on the test split. */
  evaluation: EvaluationResult;
  /** Seconds its training took. */
  trainSeconds: number;
}

/** What {@link runDemo} returns. */
export interface DemoResult {
  /** The output folder, absolute. */
  out: string;
  /** The report's path (out/report.html). */
  report: string;
  /** Every evaluated model, in training order. */
  results: DemoModelResult[];
  /** Seconds the whole demo took. */
  seconds: number;
  /** Seconds of the single-mask pretraining (0 without it). */
  pretrainSeconds: number;
}

/** The report's title of each objective. */
export const modelTitles: Readonly<Record<Objective, string>> = {
  seqsam: 'SeqSAM',
  'sam-mcl': 'SAM-MCL',
  'sam-det': 'SAM',
};

/** Runs the embedded demo (see {@link DemoOptions}); needs no download. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const out = resolve(options.out ?? 'seqsam-demo');
  const seed = options.seed ?? 0;
  const epochs = options.epochs ?? 20;
  const pretrainEpochs = options.pretrainEpochs ?? 8;
  if (!Number.isInteger(pretrainEpochs) || pretrainEpochs < 0) throw new SeqsamError('ERR_ARGUMENT', `demo: pretrainEpochs must be a non-negative integer (got ${String(pretrainEpochs)})`);
  const batchSize = options.batchSize ?? 8;
  const lr = options.lr ?? 2e-3;
  const numMasks = options.numMasks ?? 4;
  const evalMasks = options.evalMasks ?? [numMasks, 2 * numMasks];
  const objectives = options.models ?? (['seqsam', 'sam-mcl', 'sam-det'] as const);
  const config = options.config ?? tinyConfig;
  const log = options.log ?? (() => {});

  const dataset = synthetic({ count: options.count ?? 160, size: options.size ?? 64, raters: 4, seed });
  // More test images than the CLI's 0.8/0.1/0.1, for steadier numbers on a small set; recorded in the
  // checkpoints and metrics.json so that `seqsam eval` finds the same split.
  const splitSettings: SplitSettings = { seed, fractions: [0.75, 0.1, 0.15], by: 'group' };
  const split = splitByGroup(dataset, splitSettings);
  // Checked before any training: a set too small for a test split would only fail at the end.
  if (!split.train.length || !split.test.length) {
    throw new SeqsamError('ERR_ARGUMENT', `demo: count ${dataset.length} leaves the ${split.train.length ? 'test' : 'training'} split empty (${split.train.length} train / ${split.val.length} val / ${split.test.length} test, split 0.75/0.1/0.15 by patient); use a count of at least 16`);
  }
  log(`synthetic set: ${dataset.length} images (${split.train.length} train / ${split.val.length} val / ${split.test.length} test), ${dataset.raters} raters, ${dataset.size}² px`);
  await ensureDirectory('demo: out', out);
  await mkdir(join(out, 'montages'), { recursive: true });

  // Every model shares one frozen encoder (same seed), so each image is embedded once for all of them.
  const cache = new EmbeddingCache({});
  const trained: Array<{ objective: Objective; model: SeqSam; losses: number[]; evaluations: EvaluationEvent[]; seconds: number }> = [];
  const results: DemoModelResult[] = [];
  try {
    // SAM pretrained once; each model is fine-tuned from its weights with a fresh optimizer.
    let pretrained: string | undefined;
    let pretrainSeconds = 0;
    if (pretrainEpochs > 0) {
      log(`pretraining SAM (one mask per box): ${pretrainEpochs} epochs of ${Math.ceil(split.train.length / batchSize)} steps`);
      const pretraining = await pretrainSam({ config, seed, dataset, indices: split.train, epochs: pretrainEpochs, batchSize, lr, cache, out, signal: options.signal, progressBar: options.progressBar ?? 'auto' });
      pretrained = pretraining.checkpoint;
      pretrainSeconds = pretraining.seconds;
      log(`  pretrained in ${pretrainSeconds.toFixed(0)} s`);
    }
    for (const objective of objectives) {
      const model = await SeqSam.load({ config, seed, checkpoint: pretrained, training: { objective, numMasks, lr, seed } });
      trained.push({ objective, model, losses: [], evaluations: [], seconds: 0 });
      const entry = trained[trained.length - 1]!;
      log(`${pretrained ? 'fine-tuning' : 'training'} ${modelTitles[objective]}: ${epochs} epochs of ${Math.ceil(split.train.length / batchSize)} steps`);
      const t0 = performance.now();
      const result = await train({
        model,
        dataset,
        split: { train: split.train, val: split.val },
        epochs,
        batchSize,
        seed,
        schedule: { type: 'linear', lr },
        evalNumMasks: numMasks,
        cache,
        checkpointDir: join(out, 'checkpoints', objective),
        logFile: join(out, 'logs', `${objective}.jsonl`),
        signal: options.signal,
        progressBar: options.progressBar ?? 'auto',
        metadata: splitMetadata(splitSettings),
      });
      entry.seconds = (performance.now() - t0) / 1000;
      entry.losses = result.losses;
      entry.evaluations = result.evaluations;

      const masksList = objective === 'seqsam' ? evalMasks : [numMasks];
      for (const m of masksList) {
        const evaluation = await evaluate(model, dataset, { indices: split.test, numMasks: m, cache, seed, signal: options.signal });
        const name = objective === 'seqsam' ? `${modelTitles[objective]}, M=${m}` : modelTitles[objective];
        results.push({ name, objective, masks: evaluation.masks, evaluation, trainSeconds: entry.seconds });
        log(`  ${name}: GED ${evaluation.mean.ged.toFixed(3)}, Dice ${evaluation.mean.dice.toFixed(3)}, Dmax ${evaluation.mean.diceMax.toFixed(3)} (${entry.seconds.toFixed(0)} s training)`);
      }
    }

    const curves = await renderCharts([
      {
        title: 'Training loss (smoothed, ÷ first value)',
        xLabel: 'optimizer step',
        yLabel: 'relative loss',
        series: trained.map(({ objective, losses }, i): Series => {
          const s = smooth(losses);
          return { name: modelTitles[objective], color: maskColor(i), points: s.map((v, step) => [step + 1, v / (s[0] || 1)] as const) };
        }),
      },
      {
        title: 'Validation GED (lower is better)',
        xLabel: 'optimizer step',
        yLabel: 'GED',
        series: trained.map(({ objective, evaluations }, i): Series => ({
          name: modelTitles[objective],
          color: maskColor(i),
          points: evaluations.map((e) => [e.step, e.mean.ged] as const),
        })),
      },
    ]);
    await writeFile(join(out, 'curves.png'), curves);

    const montages: Array<{ id: string; file: string }> = [];
    const montageModels = trained.map(({ objective, model }) => ({ title: modelTitles[objective], model, numMasks }));
    for (const index of split.test.slice(0, options.montages ?? 6)) {
      const sample = await dataset.get(index);
      const file = join('montages', `${sample.id}.png`);
      await writeFile(join(out, file), await sampleMontage(sample, index, montageModels, { seed }));
      montages.push({ id: sample.id, file });
    }

    const rows: ReportRow[] = results.map((r) => ({ name: r.name, masks: r.masks, mean: r.evaluation.mean, std: r.evaluation.std, trainSeconds: r.trainSeconds }));
    const settings = { images: dataset.length, split: `${splitSettings.fractions.join('/')} by ${splitSettings.by}`, test: split.test.length, raters: dataset.raters, size: `${dataset.size}²`, 'pretraining epochs (single mask)': pretrainEpochs, 'pretraining time': `${pretrainSeconds.toFixed(0)} s`, epochs, batch: batchSize, lr, 'train M': numMasks, seed };
    const html = reportHtml({
      title: 'SeqSAM on a synthetic multi-rater set',
      intro:
        'Four simulated raters disagree in consistent ways (a satellite lobe, a tight outline, a generous outline, and a rater who sometimes marks nothing). ' +
        'SeqSAM generates masks one after another and is trained against all raters with Hungarian matching; the baselines predict one mask, or three heads trained winner-takes-all. ' +
        'SAM-MCL: three heads trained winner-takes-all; SAM: one mask. GED (1 − IoU based) rewards a set of masks that matches the spread of the raters. ' +
        (pretrainEpochs > 0 ? 'All three are fine-tuned from one SAM whose decoder was first trained briefly for one mask per box on the training images, standing in for SAM\'s pretraining (its encoder stays random and frozen).' : 'All three start from a randomly initialised SAM (no pretraining).'),
      settings,
      rows,
      curves: 'curves.png',
      montages,
      legend: 'Each row: a model. Columns: the image with its box prompt, the raters\' masks, the model\'s masks (coloured by order), and where its masks disagree (standard deviation of the per-pixel probabilities, black = agreement).',
    });
    const report = join(out, 'report.html');
    await writeFile(report, html);
    const summary = results.map((r) => ({ name: r.name, objective: r.objective, masks: r.masks, trainSeconds: r.trainSeconds, mean: r.evaluation.mean, std: r.evaluation.std, loss: r.evaluation.loss }));
    await writeFile(join(out, 'metrics.json'), `${JSON.stringify({ settings, results: summary }, null, 2)}\n`);
    return { out, report, results, seconds: (performance.now() - started) / 1000, pretrainSeconds };
  } finally {
    for (const { model } of trained) model.dispose();
    cache.dispose();
  }
}
