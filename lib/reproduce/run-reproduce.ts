// `seqsam reproduce`: every row of the paper's tables trained and evaluated under the paper's protocol,
// one run after another, resumable row by row: a row whose result file exists is skipped, a run stopped
// midway continues from its last.safetensors, and the table is rewritten from the rows' files each time.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { AbortSignalLike } from '../platform-types.js';
import { ensureDirectory } from '../fs-paths.js';
import { splitMetadata } from '../data/split-settings.js';
import { SeqsamError, throwIfAborted } from '../errors.js';
import type { SamConfig, SamPreset } from '../model/config.js';
import { SeqSam, type TrainingOptions } from '../model/seqsam.js';
import { reportHtml } from '../report/html.js';
import { EmbeddingCache } from '../train/embedding-cache.js';
import { evaluate } from '../train/evaluate.js';
import { readTrainerState, train } from '../train/trainer.js';
import { reproduceData, type DataPart, type DatasetOpener } from './reproduce-data.js';
import { reproduceRuns, type ReproduceRow, type ReproduceRun } from './rows.js';
import { resultsTable, type RowResult } from './results-table.js';
import { differingSetting, type ReproduceSettings } from './settings.js';

export interface ReproduceOptions {
  settings: ReproduceSettings;
  /** Output folder: runs/<run>/ (checkpoints, logs, row results), table.md, results.json, report.html. */
  out: string;
  openDataset: DatasetOpener;
  /** The architecture (the tiny SAM passes its config) and the weights every run starts from (none: random). */
  preset?: SamPreset;
  config?: SamConfig;
  checkpoint?: string;
  device?: string;
  /** Only these runs (ids of rows.ts); default all. */
  runs?: readonly string[];
  /** Embedding cache folder shared with `seqsam embed --protocol reference`. */
  cacheDir?: string;
  /** Start over in an `out` that holds a reproduction with other settings. */
  overwrite?: boolean;
  signal?: AbortSignalLike;
  progressBar?: boolean | 'auto';
  log?: (line: string) => void;
}

export interface ReproduceResult {
  rows: RowResult[];
  table: string;
  /** Rows evaluated by this call and rows found finished. */
  evaluated: string[];
  skipped: string[];
}

const rowFile = (dir: string, row: ReproduceRow) => join(dir, `row-${row.id}.json`);

// The settings of the reproduction already in `out`: the same, or a refusal naming what differs (or, with
// overwrite, its runs removed).
async function checkSettings(out: string, settings: ReproduceSettings, overwrite: boolean): Promise<void> {
  const path = join(out, 'settings.json');
  if (overwrite) await rm(join(out, 'runs'), { recursive: true, force: true });
  else if (existsSync(path)) {
    const before = JSON.parse(await readFile(path, 'utf8')) as ReproduceSettings;
    const key = differingSetting(before, settings) ?? differingSetting(settings, before);
    if (key) {
      throw new SeqsamError('ERR_ARGUMENT', `reproduce: ${out} holds a reproduction with ${key} ${JSON.stringify(before[key])}, not ${JSON.stringify(settings[key])}: rerun with its settings to continue it, or --overwrite`);
    }
  }
  await writeFile(path, `${JSON.stringify(settings, null, 2)}\n`);
}

export async function runReproduce(options: ReproduceOptions): Promise<ReproduceResult> {
  const { settings } = options;
  const out = resolve(options.out);
  const log = options.log ?? (() => {});
  await ensureDirectory('reproduce: out', out);
  await checkSettings(out, settings, options.overwrite ?? false);
  const all = reproduceRuns();
  const unknown = (options.runs ?? []).filter((id) => !all.some((r) => r.id === id));
  if (unknown.length) throw new SeqsamError('ERR_ARGUMENT', `reproduce: runs ${unknown.join(', ')} unknown (known: ${all.map((r) => r.id).join(', ')})`);
  const runs = options.runs?.length ? all.filter((r) => options.runs!.includes(r.id)) : all;

  const data = await reproduceData(settings.dataset, settings.data, options.openDataset);
  log(`${settings.dataset}: ${data.description}`);
  // One frozen encoder for every run (same weights, same seed): each image is embedded once.
  const cache = new EmbeddingCache(options.cacheDir ? { dir: options.cacheDir } : {});
  const evaluated: string[] = [];
  const skipped: string[] = [];
  try {
    for (const run of runs) {
      throwIfAborted(options.signal, 'reproduce');
      const dir = join(out, 'runs', run.id);
      const pending = run.rows.filter((row) => !existsSync(rowFile(dir, row)));
      skipped.push(...run.rows.filter((row) => !pending.includes(row)).map((row) => row.id));
      if (!pending.length) {
        log(`${run.id}: finished before, skipped`);
        continue;
      }
      await ensureDirectory('reproduce: run folder', dir);
      const { model, seconds } = await trainRun(run, dir, data.train, cache, options);
      try {
        for (const row of pending) {
          const evaluation = await evaluate(model, data.test.dataset, { indices: data.test.indices, numMasks: row.numMasks, batchSize: settings.batchSize, cache, seed: settings.seed, signal: options.signal });
          const result: RowResult = {
            id: row.id,
            title: row.title,
            table: row.table,
            run: run.id,
            training: run.training,
            masks: evaluation.masks,
            count: evaluation.count,
            mean: evaluation.mean,
            std: evaluation.std,
            dropped: evaluation.dropped,
            trainSeconds: seconds,
          };
          await writeFile(rowFile(dir, row), `${JSON.stringify(result, null, 2)}\n`);
          evaluated.push(row.id);
          log(`  ${row.title}: Dice ${(100 * evaluation.mean.dice).toFixed(1)}, GED ${evaluation.mean.ged.toFixed(3)} (${evaluation.count} test images)`);
        }
      } finally {
        model.dispose();
      }
    }
  } finally {
    cache.dispose();
  }

  // The table holds every finished row in out, including those of runs not asked for this time.
  const rows: RowResult[] = [];
  for (const run of all) {
    for (const row of run.rows) {
      const path = rowFile(join(out, 'runs', run.id), row);
      if (existsSync(path)) rows.push(JSON.parse(await readFile(path, 'utf8')) as RowResult);
    }
  }
  const table = resultsTable(settings, rows, data.description);
  await writeFile(join(out, 'table.md'), table);
  await writeFile(join(out, 'results.json'), `${JSON.stringify({ settings, data: data.description, rows }, null, 2)}\n`);
  await writeFile(join(out, 'report.html'), report(settings, rows, data.description));
  return { rows, table, evaluated, skipped };
}

// Trains one run from the starting weights, or continues it from its last checkpoint (a finished run's
// checkpoint is restored without further steps).
async function trainRun(run: ReproduceRun, dir: string, part: DataPart, cache: EmbeddingCache, options: ReproduceOptions): Promise<{ model: SeqSam; seconds: number | null }> {
  const { settings } = options;
  const last = join(dir, 'last.safetensors');
  const resume = existsSync(last) ? last : undefined;
  const training: TrainingOptions = { ...run.training, lr: settings.lr, weightDecay: settings.weightDecay, seed: settings.seed, protocol: settings.protocol };
  const model = await SeqSam.load({
    ...(options.preset ? { preset: options.preset } : { config: options.config }),
    device: options.device,
    seed: settings.seed,
    training,
    checkpoint: resume ? undefined : options.checkpoint,
  });
  try {
    // A run that finished its steps before (its rows' evaluation did not) needs its weights only.
    const state = resume ? (await readTrainerState(resume)).state : undefined;
    if (resume && state && state.step === state.totalSteps && !state.evalPending) {
      (options.log ?? (() => {}))(`${run.id}: trained before (${state.step} steps), evaluating last.safetensors`);
      await model.restore(resume);
      const timing = join(dir, 'training-time.json');
      return { model, seconds: existsSync(timing) ? (JSON.parse(await readFile(timing, 'utf8')) as { seconds: number }).seconds : null };
    }
    (options.log ?? (() => {}))(`${run.id}: ${resume ? 'continuing from last.safetensors' : `training ${settings.epochs} epoch(s)`}`);
    const started = performance.now();
    await train({
      model,
      dataset: part.dataset,
      split: { train: part.indices, val: [] },
      epochs: settings.epochs,
      batchSize: settings.batchSize,
      numMasks: run.training.numMasks,
      seed: settings.seed,
      schedule: { type: settings.schedule, lr: settings.lr },
      cache,
      resume,
      checkpointDir: dir,
      logFile: join(dir, 'train.jsonl'),
      // What `seqsam eval` needs to find the test images again (QUBIQ: the whole validation folder).
      metadata: splitMetadata({ seed: settings.seed, fractions: [0.8, 0.1, 0.1], by: settings.dataset === 'qubiq' ? 'folders' : 'reference' }),
      signal: options.signal,
      progressBar: options.progressBar ?? false,
    });
    const seconds = (performance.now() - started) / 1000;
    await writeFile(join(dir, 'training-time.json'), `${JSON.stringify({ seconds })}\n`);
    return { model, seconds };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

function report(settings: ReproduceSettings, rows: readonly RowResult[], description: string): string {
  return reportHtml({
    title: `SeqSAM reproduction: ${settings.dataset}`,
    intro: `Every row of the paper's tables (arXiv 2503.09797), trained and evaluated under the reference protocol; ${description}. The published numbers stand beside ours in table.md.`,
    settings: { data: settings.data, weights: settings.weights, architecture: settings.architecture, epochs: settings.epochs, batch: settings.batchSize, lr: settings.lr, 'weight decay': settings.weightDecay, protocol: settings.protocol, seed: settings.seed },
    rows: rows.map((r) => ({ name: r.title, masks: r.masks, mean: r.mean, std: r.std, dropped: r.dropped, trainSeconds: r.trainSeconds ?? undefined })),
    montages: [],
  });
}
