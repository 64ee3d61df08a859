// The training loop: seeded epochs of cached-embedding batches through SeqSam.trainStep, a learning-rate
// schedule evaluated per step, periodic evaluation, checkpoints that resume bit-exactly, and
// cancellation through an AbortSignal.
//
// Determinism. Everything random is a pure function of (seed, epoch, index): the epoch's order is a
// shuffle seeded by (seed, epoch), each sample's box draw by (seed, epoch, index), and the native
// objective seeds its own draws by (training seed, optimizer step). A checkpoint records the position
// (epoch, batches done in it, global step) next to the weights and the optimizer state, so a run resumed
// from it takes the same steps with the same losses as one that was never interrupted.
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { parseMetadataJson } from '../checkpoint/metadata-json.js';
import type { AbortSignalLike } from '../platform-types.js';
import { readSafetensorsHeader } from '../checkpoint/safetensors.js';
import { prepareTargets, type BoxSource } from '../data/prepare.js';
import { collectGroups, splitByGroup } from '../data/split.js';
import { hashSeed, mulberry32 } from '../data/synthetic.js';
import type { Dataset, Sample } from '../data/types.js';
import { broadcastWeights } from '../distributed/model-broadcast.js';
import { agreeOnRun } from '../distributed/run-agreement.js';
import { evaluateSharded } from './sharded-evaluate.js';
import { rankBatch, stepsPerEpoch as distributedStepsPerEpoch } from '../distributed/shard.js';
import type { DistributedGroup } from '../distributed/process-group.js';
import { SeqsamError, isSeqsamError } from '../errors.js';
import { ensureDirectory, ensureFileLocation, pathError } from '../fs-paths.js';
import { checkRate } from '../validate.js';
import type { MetricName, MetricSummary } from '../metrics.js';
import type { SeqSam, TrainBatch, TrainingOptions } from '../model/seqsam.js';
import { EmbeddingCache, type EmbeddingCacheOptions, type EmbeddingCacheStats } from './embedding-cache.js';
import { evaluate, modelGeometry, ownCache, stepInputs, type EvaluationResult } from './evaluate.js';
import { createProgressBar, type ProgressBar } from './progress-bar.js';
import { keepStepCheckpoint, removeStepCheckpoints } from './step-checkpoints.js';
import { createSchedule, describeSchedule, type Schedule, type ScheduleSpec } from './schedules.js';

/** The validation metric that picks best.safetensors (see `metrics` for each). */
export type BestMetric = 'ged' | 'dice' | 'diceMax' | 'hmIou';

/** Whether a lower value of each {@link BestMetric} is better: true for GED, false for the others. */
export const lowerIsBetter: Readonly<Record<BestMetric, boolean>> = { ged: true, dice: false, diceMax: false, hmIou: false };

/** What {@link TrainOptions.onProgress} receives after every training step (also a line of the log file). */
export interface ProgressEvent {
  /** Always `'step'`. */
  type: 'step';
  /** The step's epoch, 0-based. */
  epoch: number;
  /** Epochs in the run. */
  epochs: number;
  /** Optimizer steps done (global, across resumes), this one included. */
  step: number;
  /** Steps in the whole run (epochs × steps per epoch). */
  totalSteps: number;
  /** The step's training loss. */
  loss: number;
  /** The learning rate this step used. */
  lr: number;
  /** Images per second over this call's steps (embedding the images on first use included), all ranks together. */
  imagesPerSecond: number;
  /** Estimated seconds to the end of the run, at this call's pace so far. */
  etaSeconds: number;
}

/** What {@link TrainOptions.onEvaluate} receives after each evaluation on the validation split (also a log line). */
export interface EvaluationEvent {
  /** Always `'eval'`. */
  type: 'eval';
  /** The 0-based epoch of the step evaluated after. */
  epoch: number;
  /** The optimizer step evaluated after. */
  step: number;
  /** Mean evaluation loss per image. */
  loss: number;
  /** Each metric's mean over the validation images. */
  mean: MetricSummary;
  /** Each metric's standard deviation over the validation images. */
  std: MetricSummary;
  /** The metric that picks the best checkpoint ({@link TrainOptions.bestMetric}). */
  metric: BestMetric;
  /** Its mean now. */
  value: number;
  /** The best value so far (this one included), or null when none was finite. */
  best: number | null;
  /** Whether this evaluation is the new best (then best.safetensors was written). */
  improved: boolean;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** The model to train, in place. Its encoder must stay frozen (`trainEncoder: false`): training runs on cached embeddings. */
  model: SeqSam;
  /** The samples; every one must have the same K annotations. */
  dataset: Dataset;
  /**
   * Which samples train and which validate (default: splitByGroup 80/10/10 with seed 0; test is left out).
   * Indices must lie in the dataset; the training part must not be empty.
   */
  split?: { train: readonly number[]; val?: readonly number[] };
  /** Passes over the training split (an integer ≥ 1). */
  epochs: number;
  /** Images per optimizer step (an integer ≥ 1; per rank with `distributed`); the last batch of an epoch may be smaller. */
  batchSize: number;
  /**
   * M while training. Sets up training when the model has none (with AdamW's defaults, lr 1e-4 and
   * weight decay 0.01, and `seed` as the objective's seed); else must agree with or replaces the model's.
   * Default: the model's setup, else 4.
   */
  numMasks?: number;
  /**
   * Steps between evaluations on the validation split (default: at the end of every epoch; 0: never).
   * The last step is always evaluated when evaluation is on and there is a validation split.
   */
  evalEvery?: number;
  /** M at evaluation (default: the training setup's numMasks, else 4). */
  evalNumMasks?: number;
  /** Images per evaluation batch (default: `batchSize`). */
  evalBatchSize?: number;
  /**
   * The learning rate per step: a spec or a function of the step (default `{ type: 'linear', lr: 1e-4 }`,
   * HF Trainer's default, as the reference). It overrides the training setup's `lr`.
   */
  schedule?: ScheduleSpec | Schedule;
  /**
   * Seeds the epoch order, each sample's box draw and (for a setup made here) the objective's draws
   * (an integer; default: the resumed checkpoint's, else 0). A resumed run must use the checkpoint's.
   */
  seed?: number;
  /** Stops the run between steps: last.safetensors is written (when `checkpointDir` is set) and `ERR_ABORTED` thrown. */
  signal?: AbortSignalLike;
  /** Called after every step (on rank 0 only with `distributed`). */
  onProgress?: (event: ProgressEvent) => void;
  /** Called after every evaluation (on rank 0 only with `distributed`). */
  onEvaluate?: (event: EvaluationEvent) => void;
  /** JSON lines appended here: {type: 'start' | 'step' | 'eval' | 'checkpoint' | 'abort' | 'diverged' | 'end', time, ...}. Default: no log. */
  logFile?: string;
  /**
   * A folder (created if missing) for last.safetensors (every epoch end, every saveEvery steps, on abort)
   * and best.safetensors (at each improvement of `bestMetric`). Default: no checkpoints.
   */
  checkpointDir?: string;
  /**
   * Every saveEvery steps last.safetensors is written and also kept as step-NNNNNNN.safetensors; `keep`
   * of those stay. Default 0: only at epoch ends.
   */
  saveEvery?: number;
  /** How many step-numbered checkpoints stay (default 3; 0 keeps every one). */
  keep?: number;
  /** Written into every checkpoint's metadata (e.g. how the caller split the data, for evaluation later). */
  metadata?: Record<string, string>;
  /** The validation metric that picks best.safetensors (default 'ged', lower is better). */
  bestMetric?: BestMetric;
  /**
   * A last.safetensors (or best.safetensors) written by train(): continue from its position, with its
   * training setup. seed, batchSize and the training split must be the ones it was trained with.
   */
  resume?: string;
  /**
   * A cache to share (the caller keeps owning it), or options for one made here (memory only unless
   * `dir` is given) and disposed at the end.
   */
  cache?: EmbeddingCache | EmbeddingCacheOptions;
  /** Box prompts while training: around a random non-blank label ('random-label', default) or the union of the labels ('union'). */
  boxFrom?: BoxSource;
  /** MedSAM-style jitter while training: each box side moves outwards by 0..jitter original-image pixels (default 0, as the reference). */
  jitter?: number;
  /** Box prompts at evaluation (default 'random-label', drawn with a generator seeded by (seed, index); never jittered). */
  evalBoxFrom?: BoxSource;
  /** A terminal bar on stderr: 'auto' (default) draws only when stderr is a TTY; true always, false never. */
  progressBar?: boolean | 'auto';
  /**
   * Data-parallel over a joined group (distributed.init): batchSize is per rank, every rank takes its share of
   * each epoch (as DistributedSampler), evaluation is shared out and reduced, and only rank 0 writes
   * checkpoints, the log and progress (onProgress / onEvaluate are called on rank 0 only).
   */
  distributed?: DistributedGroup;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Optimizer steps done in all (global, across resumes). */
  steps: number;
  /** Epochs in the run. */
  epochs: number;
  /** Losses of the steps this call took, in order (resumed runs list only their own steps). */
  losses: number[];
  /** Every evaluation this call made, in order. */
  evaluations: EvaluationEvent[];
  /** The best validation value and the step it was reached at (null without a finite one). */
  best: { metric: BestMetric; value: number; step: number } | null;
  /** The last last.safetensors this call wrote, if any. */
  lastCheckpoint?: string;
  /** The last best.safetensors this call wrote, if any. */
  bestCheckpoint?: string;
  /** The embedding cache's counters at the end. */
  cache: EmbeddingCacheStats;
}

/** What a checkpoint records about the run (metadata 'trainer', JSON); see {@link readTrainerState}. */
export interface TrainerState {
  /** Format version, 1. */
  version: 1;
  /** Epoch to continue (0-based). */
  epoch: number;
  /** Batches of that epoch already taken. */
  batchInEpoch: number;
  /** Optimizer steps done. */
  step: number;
  /** Steps in the whole run. */
  totalSteps: number;
  /** Epochs in the run. */
  epochs: number;
  /** Images per step (per rank). */
  batchSize: number;
  /** The run's seed. */
  seed: number;
  /** Samples in the training split. */
  trainSize: number;
  /** A hash of the training split's indices, to refuse resuming on another split. */
  trainHash: string;
  /** The best validation value so far (null: none). */
  best: number | null;
  /** The step it was reached at. */
  bestStep: number | null;
  /** The metric `best` is of. */
  bestMetric: BestMetric;
  /** The run was stopped during the evaluation after `step`: it runs first on resume. */
  evalPending: boolean;
  /** The learning-rate schedule, described. */
  schedule: string;
  /** Ranks of a data-parallel run (absent: 1); positions count steps of worldSize·batchSize images. */
  worldSize?: number;
}

function positiveInteger(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new SeqsamError('ERR_ARGUMENT', `train: ${name} must be an integer ≥ ${min} (got ${String(v)})`);
  return v;
}

/** A seeded Fisher–Yates shuffle of the training indices for one epoch: a pure function of (seed, epoch). */
export function epochOrder(indices: readonly number[], seed: number, epoch: number): number[] {
  const out = [...indices];
  const rnd = mulberry32(hashSeed(seed >>> 0, epoch + 1));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The generator (uniform in [0, 1)) for one sample's box in one epoch: a pure function of (seed, epoch, index). */
export function sampleRng(seed: number, epoch: number, index: number): () => number {
  return mulberry32(hashSeed(hashSeed(seed >>> 0, 0x5eed0000 + epoch), index));
}

function hashIndices(indices: readonly number[]): string {
  let h = 0x811c9dc5;
  for (const i of indices) h = hashSeed(h, i);
  return h.toString(16).padStart(8, '0');
}

/**
 * Reads a checkpoint written by {@link train}: its run state, its training setup (null when none was
 * recorded) and all its metadata. `ERR_CHECKPOINT` for a file without trainer metadata.
 */
export async function readTrainerState(path: string): Promise<{ state: TrainerState; training: TrainingOptions | null; metadata: Record<string, string> }> {
  const { metadata } = await readSafetensorsHeader(path);
  const state = parseMetadataJson<TrainerState>(path, metadata, 'trainer');
  if (!state) throw new SeqsamError('ERR_CHECKPOINT', `${path}: not a checkpoint written by train() (no 'trainer' metadata)`);
  if (state.version !== 1) throw new SeqsamError('ERR_CHECKPOINT', `${path}: trainer state version ${String(state.version)} is not supported`);
  return { state, training: parseMetadataJson<TrainingOptions>(path, metadata, 'training') ?? null, metadata };
}

async function defaultSplit(dataset: Dataset): Promise<{ train: number[]; val: number[] }> {
  const groups = (dataset as Dataset & { groups?: readonly string[] }).groups;
  const input = Array.isArray(groups) && groups.length === dataset.length ? groups : await collectGroups(dataset);
  const split = splitByGroup(input as readonly string[], { seed: 0 });
  return { train: split.train, val: split.val };
}

// Loads weights and optimizer state into `model` itself, after setting up training as the checkpoint was.
async function restoreInto(model: SeqSam, path: string, training: TrainingOptions): Promise<void> {
  model.configureTraining(training);
  await model.restore(path, { strict: true });
}

/**
 * Trains a SeqSam from cached image embeddings: seeded epochs of batches through `trainStep`, a
 * learning-rate schedule per step, evaluation on the validation split, checkpoints that resume
 * bit-exactly, cancellation through `signal`. Splits the data itself unless `split` is given (80/10/10 by
 * group, seed 0: the test part is left out; evaluate on it afterwards with `evaluate`). A step whose loss
 * diverges throws `ERR_NUMERIC` naming the step and the last checkpoint.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { model, dataset } = options;
  if (!model || typeof model.trainStep !== 'function') throw new SeqsamError('ERR_ARGUMENT', 'train: model must be a SeqSam');
  if (!dataset || typeof dataset.get !== 'function' || typeof dataset.length !== 'number') throw new SeqsamError('ERR_ARGUMENT', 'train: dataset must be a Dataset');
  const epochs = positiveInteger('epochs', options.epochs);
  const batchSize = positiveInteger('batchSize', options.batchSize);
  const bestMetric = options.bestMetric ?? 'ged';
  if (!(bestMetric in lowerIsBetter)) throw new SeqsamError('ERR_ARGUMENT', `train: bestMetric must be one of ${Object.keys(lowerIsBetter).join(', ')} (got ${String(bestMetric)})`);
  const saveEvery = options.saveEvery === undefined ? 0 : positiveInteger('saveEvery', options.saveEvery, 0);
  const keep = options.keep === undefined ? 3 : positiveInteger('keep', options.keep, 0);
  const group = options.distributed ?? null;
  const worldSize = group?.worldSize ?? 1;
  const lead = !group || group.rank === 0; // writes checkpoints, the log and progress

  // Where we start: fresh, or a checkpoint's position.
  let resumed: Awaited<ReturnType<typeof readTrainerState>> | null = null;
  if (options.resume) resumed = await readTrainerState(options.resume);
  const seed = options.seed ?? resumed?.state.seed ?? 0;
  if (!Number.isInteger(seed)) throw new SeqsamError('ERR_ARGUMENT', `train: seed must be an integer (got ${seed})`);
  if (resumed) {
    const s = resumed.state;
    if (s.seed !== seed) throw new SeqsamError('ERR_ARGUMENT', `train: the checkpoint was trained with seed ${s.seed}, not ${seed}`);
    if (s.batchSize !== batchSize) throw new SeqsamError('ERR_ARGUMENT', `train: the checkpoint was trained with batchSize ${s.batchSize}, not ${batchSize}`);
    if ((s.worldSize ?? 1) !== worldSize) throw new SeqsamError('ERR_ARGUMENT', `train: the checkpoint was trained on ${s.worldSize ?? 1} rank(s), not ${worldSize}`);
  }

  const split = options.split ?? (await defaultSplit(dataset));
  const trainIdx = [...split.train];
  const valIdx = [...(split.val ?? [])];
  for (const i of [...trainIdx, ...valIdx]) {
    if (!Number.isInteger(i) || i < 0 || i >= dataset.length) throw new SeqsamError('ERR_ARGUMENT', `train: split index ${i} is outside the dataset (length ${dataset.length})`);
  }
  if (!trainIdx.length) throw new SeqsamError('ERR_ARGUMENT', 'train: the training split is empty');
  const trainHash = hashIndices(trainIdx);
  if (resumed && (resumed.state.trainSize !== trainIdx.length || resumed.state.trainHash !== trainHash)) {
    throw new SeqsamError('ERR_ARGUMENT', 'train: the training split differs from the one the checkpoint was trained on');
  }

  // The training setup: the checkpoint's when resuming, else the model's, else a fresh one.
  if (resumed) {
    const training = resumed.training ?? model.training ?? { numMasks: options.numMasks ?? 4, seed };
    if (options.numMasks !== undefined && (training.numMasks ?? 4) !== options.numMasks) {
      throw new SeqsamError('ERR_ARGUMENT', `train: the checkpoint trains with numMasks ${training.numMasks ?? 4}, not ${options.numMasks}`);
    }
    await restoreInto(model, options.resume!, training);
  } else if (!model.training) {
    model.configureTraining({ numMasks: options.numMasks ?? 4, seed });
  } else if (options.numMasks !== undefined && (model.training.numMasks ?? 4) !== options.numMasks) {
    model.configureTraining({ ...model.training, numMasks: options.numMasks });
  }
  const training = model.training!;
  if (training.trainEncoder) throw new SeqsamError('ERR_ARGUMENT', 'train: trains from cached embeddings, so the encoder must stay frozen (trainEncoder: false)');

  const stepsPerEpoch = group ? distributedStepsPerEpoch(trainIdx.length, batchSize, worldSize) : Math.ceil(trainIdx.length / batchSize);
  const totalSteps = epochs * stepsPerEpoch;
  const scheduleSpec = options.schedule ?? { type: 'linear', lr: 1e-4 };
  const schedule = createSchedule(scheduleSpec, totalSteps);
  const evalEvery = options.evalEvery === undefined ? stepsPerEpoch : positiveInteger('evalEvery', options.evalEvery, 0);
  const evalNumMasks = options.evalNumMasks ?? training.numMasks ?? 4;
  const { imageSize, lowResSize } = modelGeometry(model);
  const device = model.device;

  let epoch = resumed?.state.epoch ?? 0;
  let batchInEpoch = resumed?.state.batchInEpoch ?? 0;
  let step = resumed?.state.step ?? 0;
  let best: number | null = resumed?.state.best ?? null;
  let bestStep: number | null = resumed?.state.bestStep ?? null;
  if (resumed && resumed.state.bestMetric !== bestMetric) {
    best = null;
    bestStep = null;
  }
  let evalPending = resumed?.state.evalPending ?? false;

  const checkpointDir = lead ? options.checkpointDir : undefined;
  const logFile = lead ? options.logFile : undefined;
  const lastPath = checkpointDir ? join(checkpointDir, 'last.safetensors') : undefined;
  const bestPath = checkpointDir ? join(checkpointDir, 'best.safetensors') : undefined;
  if (checkpointDir) await ensureDirectory('train: checkpointDir', checkpointDir);
  if (logFile) await ensureFileLocation('train: logFile', logFile);

  const log = async (record: Record<string, unknown>) => {
    if (!logFile) return;
    await appendFile(logFile, `${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`).catch((error: unknown) => {
      throw pathError('train: logFile', logFile, error);
    });
  };
  const stateAt = (pending: boolean): TrainerState => {
    // A finished epoch is the start of the next one.
    const wrapped = batchInEpoch >= stepsPerEpoch;
    return {
      version: 1,
      epoch: wrapped ? epoch + 1 : epoch,
      batchInEpoch: wrapped ? 0 : batchInEpoch,
      step,
      totalSteps,
      epochs,
      batchSize,
      seed,
      trainSize: trainIdx.length,
      trainHash,
      best,
      bestStep,
      bestMetric,
      evalPending: pending,
      schedule: describeSchedule(scheduleSpec),
      ...(group ? { worldSize } : {}),
    };
  };
  let lastCheckpoint: string | undefined;
  let bestCheckpoint: string | undefined;
  const save = async (path: string, kind: 'last' | 'best', pending = false) => {
    const state = stateAt(pending);
    await model.save(path, {
      ...options.metadata,
      trainer: JSON.stringify(state),
      epoch: String(state.epoch),
      step: String(state.step),
      seed: String(seed),
      best: best === null ? '' : String(best),
      bestMetric,
    });
    if (kind === 'last') lastCheckpoint = path;
    else bestCheckpoint = path;
    await log({ type: 'checkpoint', kind, path, epoch: state.epoch, step });
  };

  const { cache, owned } = ownCache(options.cache);
  const bar: ProgressBar | null =
    lead && (options.progressBar === true || (options.progressBar !== false && process.stderr.isTTY)) ? createProgressBar({ force: options.progressBar === true }) : null;
  let cacheStats: EmbeddingCacheStats = cache.stats;
  const losses: number[] = [];
  const evaluations: EvaluationEvent[] = [];

  const runEvaluation = async () => {
    const evalOptions = { indices: valIdx, numMasks: evalNumMasks, batchSize: options.evalBatchSize ?? batchSize, cache, boxFrom: options.evalBoxFrom, seed, signal: options.signal };
    const result: EvaluationResult = group ? await evaluateSharded(group, model, dataset, evalOptions) : await evaluate(model, dataset, evalOptions);
    const value = result.mean[bestMetric as MetricName];
    const improved = Number.isFinite(value) && (best === null || (lowerIsBetter[bestMetric] ? value < best : value > best));
    if (improved) {
      best = value;
      bestStep = step;
    }
    const event: EvaluationEvent = { type: 'eval', epoch: Math.max(0, Math.ceil(step / stepsPerEpoch) - 1), step, loss: result.loss, mean: result.mean, std: result.std, metric: bestMetric, value, best, improved };
    evaluations.push(event);
    await log({ ...event });
    if (lead) options.onEvaluate?.(event);
    bar?.log(`step ${step}: eval loss ${result.loss.toFixed(4)}, ${bestMetric} ${value.toFixed(4)}${improved ? ' (best)' : ''}`);
    if (improved && bestPath) await save(bestPath, 'best');
  };
  // Evaluation that an abort may interrupt: the checkpoint then asks for it again on resume.
  const evaluateOrStop = async () => {
    try {
      await runEvaluation();
      evalPending = false;
    } catch (error) {
      if (isSeqsamError(error) && error.code === 'ERR_ABORTED') {
        evalPending = true;
      }
      throw error;
    }
  };

  const started = performance.now();
  let imagesDone = 0;
  let stepsDone = 0;
  const abort = async (): Promise<never> => {
    if (lastPath) await save(lastPath, 'last', evalPending);
    await log({ type: 'abort', epoch, step });
    throw new SeqsamError('ERR_ABORTED', `training was aborted at step ${step}${lastPath ? `; resume from ${lastPath}` : ''}`, { cause: options.signal?.reason });
  };

  // The step left the weights as they were, but they are not saved again: the last checkpoint, if any,
  // predates the divergence.
  const diverged = async (error: SeqsamError, lr: number): Promise<never> => {
    await log({ type: 'diverged', epoch, step, lr, message: error.message });
    const where = lastCheckpoint ? `; the last checkpoint is ${lastCheckpoint}` : '';
    throw new SeqsamError('ERR_NUMERIC', `train: step ${step + 1} (epoch ${epoch + 1}) diverged: ${error.message}${where}`, { cause: error });
  };

  try {
    if (group) {
      await agreeOnRun(group, {
        'model config': model.config,
        'training options': { training, epochs, batchSize, seed, schedule: describeSchedule(scheduleSpec), evalEvery, evalNumMasks, evalBatchSize: options.evalBatchSize, boxFrom: options.boxFrom, jitter: options.jitter, evalBoxFrom: options.evalBoxFrom, bestMetric },
        data: { name: dataset.name, length: dataset.length, raters: dataset.raters, trainHash, trainSize: trainIdx.length, val: hashIndices(valIdx) },
        'resume position': { step, epoch, batchInEpoch },
      });
      await broadcastWeights(model);
    }
    await log({ type: 'start', epochs, batchSize, totalSteps, stepsPerEpoch, seed, step, resume: options.resume ?? null, trainSize: trainIdx.length, valSize: valIdx.length, schedule: describeSchedule(scheduleSpec), training });
    if (evalPending && valIdx.length) {
      if (options.signal?.aborted) await abort();
      try {
        await evaluateOrStop();
      } catch (error) {
        if (evalPending) await abort();
        throw error;
      }
    }
    for (; epoch < epochs; epoch++, batchInEpoch = 0) {
      const order = epochOrder(trainIdx, seed, epoch);
      for (; batchInEpoch < stepsPerEpoch; ) {
        if (options.signal?.aborted) await abort();
        const indices = group ? rankBatch(order, batchSize, batchInEpoch, group.rank, worldSize) : order.slice(batchInEpoch * batchSize, (batchInEpoch + 1) * batchSize);
        const samples: Sample[] = [];
        for (const i of indices) samples.push(await dataset.get(i));
        const prepared = samples.map((s, j) =>
          prepareTargets(s, { imageSize, lowResSize, boxFrom: options.boxFrom ?? 'random-label', jitter: options.jitter ?? 0, rng: sampleRng(seed, epoch, indices[j]!) }),
        );
        // A schedule is user code: a NaN or negative rate stops here, before it can reach the weights.
        const lr = checkRate(`train: the schedule's rate at step ${step}`, schedule(step));
        let loss: number;
        {
          using inputs = await stepInputs(model, cache, samples, prepared, device);
          const batch: TrainBatch = { embeddings: inputs.embeddings, boxes: inputs.boxes, labels: inputs.labels, labelMask: inputs.labelMask };
          try {
            using result = await model.trainStep(batch, { lr });
            loss = result.loss;
          } catch (error) {
            if (isSeqsamError(error) && error.code === 'ERR_NUMERIC') await diverged(error, lr);
            throw error;
          }
        }
        step++;
        batchInEpoch++;
        stepsDone++;
        imagesDone += indices.length * worldSize;
        losses.push(loss);
        const elapsed = (performance.now() - started) / 1000;
        const event: ProgressEvent = {
          type: 'step',
          epoch,
          epochs,
          step,
          totalSteps,
          loss,
          lr,
          imagesPerSecond: elapsed > 0 ? imagesDone / elapsed : 0,
          etaSeconds: ((totalSteps - step) * elapsed) / stepsDone,
        };
        await log({ ...event });
        bar?.update(event);
        if (lead) options.onProgress?.(event);

        const epochEnd = batchInEpoch >= stepsPerEpoch;
        // The last step is always evaluated: a run shorter than evalEvery still gets its best checkpoint.
        if (evalEvery > 0 && valIdx.length && (step % evalEvery === 0 || step === totalSteps)) {
          try {
            await evaluateOrStop();
          } catch (error) {
            if (evalPending) await abort();
            throw error;
          }
        }
        if (lastPath && (epochEnd || (saveEvery > 0 && step % saveEvery === 0))) await save(lastPath, 'last');
        if (lastPath && saveEvery > 0 && step % saveEvery === 0) await keepStepCheckpoint(lastPath, checkpointDir!, step, keep);
      }
    }
    await log({ type: 'end', epoch: epochs, step, best, bestStep });
  } finally {
    bar?.stop();
    cacheStats = cache.stats;
    if (owned) cache.dispose();
  }
  return {
    steps: step,
    epochs,
    losses,
    evaluations,
    best: best === null ? null : { metric: bestMetric, value: best, step: bestStep! },
    lastCheckpoint,
    bestCheckpoint,
    cache: cacheStats,
  };
}

/**
 * Removes a run's checkpoints (last, best and the step-numbered ones), e.g. before starting over in the
 * same directory.
 */
export async function removeCheckpoints(checkpointDir: string): Promise<void> {
  await rm(join(checkpointDir, 'last.safetensors'), { force: true });
  await rm(join(checkpointDir, 'best.safetensors'), { force: true });
  await removeStepCheckpoints(checkpointDir);
}
